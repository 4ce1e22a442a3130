"""The demo mailbox: realistic service-desk mail, generated and fed through the real pipeline.

``make demo`` must run on a machine without an IMAP server, so this stands in for one: it builds raw
RFC 5322 messages (customers' questions, a web-form lead in ADF/XML asking for a call, the dealer's
auto-acknowledgement, out-of-office replies, a bounce, advisors' answers) and hands them over as
``FetchedMessage`` objects, exactly what the IMAP source delivers. Parsing, classification,
threading, inquiry rules, store and metrics are the production code. A few messages are back-dated
so that a newcomer sees answered, at-risk and breached inquiries within the first minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate

from adapters.imap.fetched import FetchedMessage

CUSTOMERS = [
    ("Jane Roe", "jane.roe@example.com"),
    ("Ed Poe", "ed.poe@example.org"),
    ("Ana Lima", "ana.lima@example.net"),
    ("Raj Patel", "raj.patel@example.com"),
    ("Lena Vogel", "lena.vogel@example.de"),
    ("Tom Hart", "tom.hart@example.com"),
]
QUESTIONS = [
    ("Brake noise on my Civic", "My brakes squeal when stopping. Can I bring the car in this week?"),
    ("Price for a timing belt", "How much is a timing belt replacement on a 2015 Accord?"),
    ("Oil change appointment", "Do you have a slot for an oil change on Saturday morning?"),
    ("Recall notice", "I received a recall letter for the airbag. How long does the fix take?"),
    ("Tyre rotation", "Can you rotate my tyres while I wait?"),
]
ADVISORS = [("Sam Advisor", "sam@dealer.example"), ("Alice Advisor", "alice@dealer.example")]

ADF_LEAD = """<?xml version="1.0"?>
<?adf version="1.0"?>
<adf><prospect><requestdate>{date}</requestdate>
<customer><contact><name part="full">{name}</name><email>{email}</email>
<phone type="voice" preferredcontact="1">+1 313 555 0{n:03d}</phone></contact>
<comments>Please call me about a service appointment for my CR-V.</comments></customer>
<vendor><vendorname>Demo Honda</vendorname></vendor></prospect></adf>
"""


class DemoMailbox:
    """Generates the traffic of one mailbox. ``run(feed)`` calls ``feed(batch)`` as mail arrives."""

    def __init__(
        self,
        *,
        site: str,
        mailbox: str,
        service_address: str = "service@dealer.example",
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        mean_gap_s: float = 25.0,
    ) -> None:
        self.site = site
        self.mailbox = mailbox
        self.service_address = service_address
        self.rng = random.Random(seed)
        self.clock = clock
        self.mean_gap_s = mean_gap_s
        self._uids = {"INBOX": itertools.count(1), "Sent": itertools.count(1)}
        self._ids = itertools.count(1)

    # --- message builders -------------------------------------------------------------------------
    def _fetched(self, folder: str, raw: bytes, at: float) -> FetchedMessage:
        header, _, body = raw.partition(b"\r\n\r\n")
        return FetchedMessage(
            site=self.site, mailbox=self.mailbox, folder=folder, uid=next(self._uids[folder]), uidvalidity=1,
            internaldate=at, flags=(), size=len(raw), header=header + b"\r\n\r\n", body=body,
        )  # fmt: skip

    def _message(
        self, sender: str, to: str, subject: str, body: str, at: float, **headers: str
    ) -> tuple[str, bytes]:
        msg = EmailMessage()
        msg_id = f"<demo{next(self._ids)}.{int(at)}@{sender.rsplit('@', 1)[1].rstrip('>')}>"
        msg["From"], msg["To"], msg["Subject"] = sender, to, subject
        msg["Date"], msg["Message-ID"] = formatdate(at), msg_id
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content(body)
        return msg_id, msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))

    def inquiry(self, at: float) -> tuple[str, str, str, FetchedMessage]:
        name, address = self.rng.choice(CUSTOMERS)
        subject, body = self.rng.choice(QUESTIONS)
        msg_id, raw = self._message(f"{name} <{address}>", self.service_address, subject, body, at)
        return msg_id, address, subject, self._fetched("INBOX", raw, at)

    def lead(self, at: float) -> tuple[str, str, str, FetchedMessage]:
        name, address = self.rng.choice(CUSTOMERS)
        body = ADF_LEAD.format(date=formatdate(at), name=name, email=address, n=self.rng.randrange(100, 999))
        msg_id, raw = self._message(
            "Website Leads <noreply@leads.example>", self.service_address, "New service lead", body, at,
            Reply_To=address, Auto_Submitted="auto-generated",
        )  # fmt: skip
        return msg_id, address, "New service lead", self._fetched("INBOX", raw, at)

    def acknowledgement(self, in_reply_to: str, to: str, subject: str, at: float) -> FetchedMessage:
        _, raw = self._message(
            f"Service Desk <{self.service_address}>", to, f"Re: {subject}",
            "Thank you, we received your request and will answer within one business hour.", at,
            In_Reply_To=in_reply_to, Auto_Submitted="auto-replied",
        )  # fmt: skip
        return self._fetched("Sent", raw, at)

    def reply(self, in_reply_to: str, to: str, subject: str, at: float) -> FetchedMessage:
        name, address = self.rng.choice(ADVISORS)
        _, raw = self._message(
            f"{name} <{address}>", to, f"Re: {subject}",
            "Thanks for writing. We can see you Thursday at 9:00; reply if that does not suit you.", at,
            In_Reply_To=in_reply_to,
        )  # fmt: skip
        return self._fetched("Sent", raw, at)

    def out_of_office(self, at: float) -> FetchedMessage:
        name, address = self.rng.choice(CUSTOMERS)
        _, raw = self._message(
            f"{name} <{address}>", self.service_address, "Automatic reply: your service reminder",
            "I am out of the office until Monday.", at, Auto_Submitted="auto-replied",
        )  # fmt: skip
        return self._fetched("INBOX", raw, at)

    # --- the story ----------------------------------------------------------------------------------
    def backlog(self) -> list[FetchedMessage]:
        """What a newcomer should see at once: answered in time, answered late, at risk, breached."""
        now = self.clock()
        out: list[FetchedMessage] = []
        for arrived, answered_after in (
            (now - 5400, 1500.0),
            (now - 9000, 4800.0),
            (now - 2900, None),
            (now - 4200, None),
        ):
            msg_id, address, subject, inquiry = self.inquiry(arrived)
            out += [inquiry, self.acknowledgement(msg_id, address, subject, arrived + 3)]
            if answered_after is not None:
                out.append(self.reply(msg_id, address, subject, arrived + answered_after))
        out.append(self.out_of_office(now - 600))
        return sorted(out, key=lambda f: f.internaldate)

    async def run(self, feed: Callable[[list[FetchedMessage]], None], stop: asyncio.Event) -> None:
        feed(self.backlog())
        pending: list[tuple[float, str, str, str]] = []  # (due, message id, customer, subject)
        next_arrival = self.clock() + self.rng.uniform(3, 8)
        while not stop.is_set():
            now = self.clock()
            if now >= next_arrival:
                make = self.lead if self.rng.random() < 0.25 else self.inquiry
                msg_id, address, subject, inquiry = make(now)
                batch = [inquiry]
                if make == self.inquiry:
                    batch.append(self.acknowledgement(msg_id, address, subject, now + 2))
                feed(batch)
                if self.rng.random() < 0.7:  # some get an answer within the demo's minutes, some never
                    pending.append((now + self.rng.uniform(20, 90), msg_id, address, subject))
                if self.rng.random() < 0.1:
                    feed([self.out_of_office(now)])
                next_arrival = now + self.rng.expovariate(1.0 / self.mean_gap_s)
            for item in [p for p in pending if p[0] <= now]:
                pending.remove(item)
                feed([self.reply(item[1], item[2], item[3], now)])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
