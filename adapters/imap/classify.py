"""Automatic or human? One explainable decision per message.

The evidence families (``signals``) are weighed in a fixed order, strongest first:

1. challenge-response robots (they even dress up as delivery reports);
2. RFC 6522 reports: DSN -> bounce, MDN -> receipt, ARF -> notification;
3. non-delivery reports without a DSN (MAILER-DAEMON, X-Failed-Recipients, ...);
4. auto-replies: RFC 3834 ``auto-replied``, the X-Autoreply family, Exchange inbox rules,
   out-of-office subjects in many languages -> ``ooo`` (absence) or ``autoreply``;
5. leads (ADF/XML, web forms): customer inquiries even from ``noreply@`` with
   ``Auto-Submitted: auto-generated`` -> human/lead; they outrank everything below;
6. lists, bulk and marketing -> list;
7. ``Auto-Submitted: no`` -> human, as the sender declared;
8. other machine senders (auto-generated, null sender, X-Loop, noreply@, no From) -> notification;
9. otherwise human.

``X-Auto-Response-Suppress`` alone decides nothing: ordinary Outlook mail carries it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.imap import signals
from adapters.imap.contact import own_words, requested_in_text
from adapters.imap.leads import LeadInfo, find_lead
from adapters.imap.mime import ParsedMail, parse_message
from monitor.domain.mail import Classification, ContactMethod, MailKind

_PHONE = re.compile(r"\+?\(?\d[\d ().-]{6,}\d")


@dataclass(frozen=True, slots=True)
class MailAnalysis:
    classification: Classification
    lead: LeadInfo | None
    requested_contact: ContactMethod | None
    contact_reason: str | None
    customer_phone: str | None  # from the lead, or given in a human request to be called


def _notes(mail: ParsedMail) -> list[str]:
    if mail.header("x-auto-response-suppress") is not None:
        return ["X-Auto-Response-Suppress ignored (ordinary Outlook mail sets it)"]
    return []


def _auto(kind: MailKind, reasons: list[str], mail: ParsedMail) -> MailAnalysis:
    unique = tuple(dict.fromkeys(reasons + _notes(mail)))
    return MailAnalysis(Classification("auto", kind, unique), None, None, None, None)


def _machine_decision(mail: ParsedMail) -> MailAnalysis | None:
    """Steps 1-4: evidence that no lead content can outweigh."""
    report = signals.report(mail)
    found = signals.challenge(mail)
    if found:
        return _auto("autoreply", found + (report[1] if report else []), mail)
    if report:
        return _auto(report[0], report[1] + signals.bounce(mail), mail)
    found = signals.bounce(mail)
    if found:
        return _auto("bounce", found, mail)
    found, is_ooo = signals.autoreply(mail)
    if found:
        return _auto("ooo" if is_ooo else "autoreply", found, mail)
    return None


def analyse(mail: ParsedMail) -> MailAnalysis:
    """Classification plus what a human message asks for. Never raises on a parsed message."""
    decided = _machine_decision(mail)
    if decided:
        return decided
    list_reasons, is_list = signals.mailing_list(mail)
    machine = signals.generated(mail)
    lead = find_lead(mail)
    if lead is not None:
        overridden = [f"outweighs {r}" for r in list_reasons + machine]
        asked = _asked(lead.requested_contact, lead.contact_reason)
        reasons = ("lead: " + lead.reasons[0], *lead.reasons[1:], *overridden, *asked)
        return MailAnalysis(
            Classification("human", "lead", reasons),
            lead,
            lead.requested_contact,
            lead.contact_reason,
            lead.customer_phone,
        )
    if is_list:
        return _auto("list", list_reasons + machine, mail)
    declared_human = signals.auto_submitted(mail) == "no"
    if machine and not declared_human:
        return _auto("notification", machine, mail)
    if declared_human:
        said = ["Auto-Submitted: no (the sender declares a person wrote it)"]
    else:
        said = ["no automatic-mail markers"]
    found = requested_in_text(mail.text)
    method, why = found if found else (None, None)
    phone = None
    if method in ("phone", "sms"):
        number = _PHONE.search(own_words(mail.text))
        phone = number.group(0) if number else None
    reasons = tuple(said + _notes(mail) + _asked(method, why))
    return MailAnalysis(Classification("human", "human", reasons), None, method, why, phone)


def _asked(method: ContactMethod | None, why: str | None) -> list[str]:
    """The requested contact method is a decision too (a phone request lets a call be the reply)."""
    return [f"requested contact: {method} ({why})"] if method else []


def classify(mail: ParsedMail) -> Classification:
    return analyse(mail).classification


def classify_bytes(raw: bytes) -> Classification:
    """Parse and classify one raw message (what ``slamon classify`` runs per file)."""
    return classify(parse_message(raw))
