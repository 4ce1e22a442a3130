"""Repositories for the service mailbox: messages, inquiries and IMAP read positions.

Like the call repositories they never commit: the service layer owns the transaction.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.domain.inquiries import EvidenceItem, InquiryView
from monitor.domain.mail import Classification, MailSeen
from monitor.store.chain import ChainAppender
from monitor.store.repository import insert_ignoring_duplicates
from monitor.store.tables import table


class SqlMailRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, messages: Iterable[MailSeen]) -> int:
        """Store messages not stored yet (per site, mailbox and message key); a second copy of a known
        message (BCC copy in the inbox, Sent copy) only lowers the stored arrival time. Returns how
        many were new."""
        unique: dict[tuple[str, str, str], MailSeen] = {}
        for msg in messages:
            key = (msg.site, msg.mailbox, msg.message_key)
            known = unique.get(key)
            if known is None or msg.received_at < known.received_at:
                unique[key] = msg
        if not unique:
            return 0
        mail = table("mail_message")
        stmt = insert_ignoring_duplicates(self._session, mail, ("site", "mailbox", "message_key")).returning(
            mail.c.id
        )
        rows = [_message_row(unique[k]) for k in sorted(unique)]
        new = len(self._session.execute(stmt, rows).all())
        for (site, mailbox, message_key), msg in sorted(unique.items()):
            self._session.execute(
                update(mail)
                .where(
                    mail.c.site == site,
                    mail.c.mailbox == mailbox,
                    mail.c.message_key == message_key,
                    mail.c.received_at > msg.received_at,
                )
                .values(received_at=msg.received_at)
            )
        return new

    def load(self, site: str, mailbox: str, since: float | None = None) -> builtins.list[MailSeen]:
        mail = table("mail_message")
        stmt = select(mail).where(mail.c.site == site, mail.c.mailbox == mailbox)
        if since is not None:
            stmt = stmt.where(mail.c.received_at >= since)
        return [
            _message(row._mapping)
            for row in self._session.execute(stmt.order_by(mail.c.received_at, mail.c.id))
        ]

    def count(self, site: str | None = None) -> int:
        mail = table("mail_message")
        stmt = select(func.count()).select_from(mail)
        if site is not None:
            stmt = stmt.where(mail.c.site == site)
        return int(self._session.execute(stmt).scalar_one())


class SqlInquiryRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def save_many(self, views: Iterable[InquiryView]) -> int:
        """Insert or update each inquiry's projection row (``inquiry``: mutable, not evidence) and,
        once its result is final (met or breached), append an SLA evaluation with the evidence it
        was judged on to the evidence chain. A later evaluation that changes the result, the reply,
        the threshold or the policy version is appended as the next revision, superseding the
        previous one; nothing chained is updated. Returns the number of inquiries written."""
        ordered = sorted(views, key=lambda v: (v.site, v.inquiry_id))
        if not ordered:
            return 0
        chain = ChainAppender(self._session)  # first: the lock also covers reading the latest revisions
        inquiry = table("inquiry")
        for view in ordered:
            row = _inquiry_row(view)
            stmt = insert_ignoring_duplicates(self._session, inquiry, ("site", "inquiry_id"))
            inserted = self._session.execute(stmt.returning(inquiry.c.id), [row]).all()
            if not inserted:
                self._session.execute(
                    update(inquiry)
                    .where(inquiry.c.site == view.site, inquiry.c.inquiry_id == view.inquiry_id)
                    .values(**{k: v for k, v in row.items() if k not in ("site", "inquiry_id")})
                )
        final = [v for v in ordered if v.status != "open"]
        latest = self._latest_evaluations(final)
        evaluations: list[dict[str, Any]] = []
        evidence: list[dict[str, Any]] = []
        for view in final:
            values = _evaluation_row(view)
            key = (view.site, view.inquiry_id, values["standard"])
            previous = latest.get(key)
            replied = view.first_human_reply_at is not None
            if previous is not None and _same_evaluation(previous, values, replied):
                continue
            if previous is not None:
                values["revision"] = previous["revision"] + 1
                values["supersedes_seq"] = previous["chain_seq"]
            evaluations.append(chain.link("sla_evaluation", values, refs={"call": None}))
            for ordinal, item in enumerate(view.evidence):
                ev = _evidence_row(view, values, ordinal, item)
                evidence.append(chain.link("inquiry_evidence", ev))
        if evaluations:
            self._session.execute(table("sla_evaluation").insert(), evaluations)
        if evidence:
            self._session.execute(table("inquiry_evidence").insert(), evidence)
        chain.close()
        return len(ordered)

    def _latest_evaluations(self, views: list[InquiryView]) -> dict[tuple[str, str, str], dict[str, Any]]:
        """(site, inquiry id, standard) -> its evaluation in force (the highest revision)."""
        sla = table("sla_evaluation")
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        ids = sorted({v.inquiry_id for v in views})
        for i in range(0, len(ids), 500):
            stmt = select(sla).where(sla.c.subject_kind == "inquiry", sla.c.subject_id.in_(ids[i : i + 500]))
            for row in self._session.execute(stmt).mappings():
                key = (row["site"], row["subject_id"], row["standard"])
                if key not in out or row["revision"] > out[key]["revision"]:
                    out[key] = dict(row)
        return out


class StoredPosition(NamedTuple):
    uidvalidity: int
    last_uid: int


class SqlImapPositionStore:
    """``adapters.imap.state.ImapStateStore`` on the database; each save is its own short transaction
    because it must be durable before the next batch is read (the store's usual batching would
    widen the window in which a crash re-reads messages)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def load(self, site: str, mailbox: str, folder: str) -> StoredPosition | None:
        pos = table("imap_position")
        with Session(self._engine) as session:
            row = session.execute(
                select(pos.c.uidvalidity, pos.c.last_uid).where(
                    pos.c.site == site, pos.c.mailbox == mailbox, pos.c.folder == folder
                )
            ).first()
        return None if row is None else StoredPosition(int(row[0]), int(row[1]))

    def save(self, site: str, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        pos = table("imap_position")
        with Session(self._engine) as session, session.begin():
            stmt = insert_ignoring_duplicates(session, pos, ("site", "mailbox", "folder"))
            values = {
                "site": site,
                "mailbox": mailbox,
                "folder": folder,
                "uidvalidity": uidvalidity,
                "last_uid": last_uid,
            }
            if not session.execute(stmt.returning(pos.c.id), [values]).all():
                session.execute(
                    update(pos)
                    .where(pos.c.site == site, pos.c.mailbox == mailbox, pos.c.folder == folder)
                    .values(uidvalidity=uidvalidity, last_uid=last_uid)
                )


def _message_row(m: MailSeen) -> dict[str, Any]:
    return {
        "site": m.site,
        "mailbox": m.mailbox,
        "message_key": m.message_key,
        "folder": m.folder,
        "uid": m.uid,
        "uidvalidity": m.uidvalidity,
        "message_id": m.message_id,
        "in_reply_to_json": json.dumps(list(m.in_reply_to)),
        "references_json": json.dumps(list(m.references)),
        "thread_index": m.thread_index,
        "subject_hash": m.subject_hash,
        "from_key": m.from_key,
        "from_domain": m.from_domain,
        "customer_key": m.customer_key,
        "customer_masked": m.customer_masked,
        "customer_phone_key": m.customer_phone_key,
        "customer_phone_masked": m.customer_phone_masked,
        "date": m.date,
        "received_at": m.received_at,
        "direction": m.direction,
        "cls": m.classification.cls,
        "kind": m.classification.kind,
        "reasons_json": json.dumps(list(m.classification.reasons)),
        "requested_contact": m.requested_contact,
        "evidence_headers": m.evidence_headers,
    }


def _message(r: Any) -> MailSeen:
    return MailSeen(
        site=r["site"],
        mailbox=r["mailbox"],
        folder=r["folder"],
        uid=r["uid"],
        uidvalidity=r["uidvalidity"],
        message_key=r["message_key"],
        message_id=r["message_id"],
        in_reply_to=tuple(json.loads(r["in_reply_to_json"])),
        references=tuple(json.loads(r["references_json"])),
        thread_index=r["thread_index"],
        subject_hash=r["subject_hash"],
        from_key=r["from_key"],
        from_domain=r["from_domain"],
        customer_key=r["customer_key"],
        customer_masked=r["customer_masked"],
        customer_phone_key=r["customer_phone_key"],
        customer_phone_masked=r["customer_phone_masked"],
        date=r["date"],
        received_at=r["received_at"],
        direction=r["direction"],
        classification=Classification(r["cls"], r["kind"], tuple(json.loads(r["reasons_json"]))),
        requested_contact=r["requested_contact"],
        evidence_headers=r["evidence_headers"],
    )


def _inquiry_row(v: InquiryView) -> dict[str, Any]:
    return {
        "inquiry_id": v.inquiry_id,
        "site": v.site,
        "mailbox": v.mailbox,
        "kind": v.kind,
        "conversation_id": v.conversation_id,
        "customer_key": v.customer_key,
        "customer_masked": v.customer_masked,
        "received_at": v.received_at,
        "first_human_reply_at": v.first_human_reply_at,
        "reply_via": v.reply_via,
        "business_seconds_to_first_human_reply": v.business_seconds_to_first_human_reply,
        "allowance_s": v.allowance_s,
        "deadline_at": v.deadline_at.timestamp(),
        "status": v.status,
        "at_risk": v.at_risk,
        "auto_replies": v.auto_replies,
        "requested_contact": v.requested_contact,
        "policy_version": v.policy_version,
        "evaluated_at": v.evaluated_at,
        "evidence_json": json.dumps([asdict(e) for e in v.evidence]),
    }


def _evaluation_row(v: InquiryView) -> dict[str, Any]:
    replied = v.business_seconds_to_first_human_reply
    return {
        "call_pk": None,
        "site": v.site,
        "subject_kind": "inquiry",
        "subject_id": v.inquiry_id,
        "standard": "acknowledge" if v.kind == "written" else "first_reply",
        "revision": 0,
        "supersedes_seq": None,
        "result": v.status,
        # Unanswered and breached: the business time elapsed when the breach was evaluated.
        "measured": replied if replied is not None else v.business_seconds_elapsed,
        "threshold": v.allowance_s,
        "policy_version": v.policy_version,
        "evaluated_at": v.first_human_reply_at or v.deadline_at.timestamp(),
    }


def _same_evaluation(stored: dict[str, Any], new: dict[str, Any], replied: bool) -> bool:
    """Whether ``new`` says nothing that ``stored`` (the revision in force) does not."""
    if stored["result"] != new["result"] or stored["policy_version"] != new["policy_version"]:
        return False
    if not _same_float(stored["threshold"], new["threshold"]):
        return False
    if not _same_float(stored["evaluated_at"], new["evaluated_at"]):
        return False  # a reply found (or matched differently) moves the evaluation instant
    # The elapsed business time of a breached inquiry still without a reply grows with every
    # evaluation: that alone is no correction (else every restart would append one).
    return not replied or _same_float(stored["measured"], new["measured"])


def _same_float(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return float(a) == float(b)


def _evidence_row(
    v: InquiryView, evaluation: dict[str, Any], ordinal: int, e: EvidenceItem
) -> dict[str, Any]:
    return {
        "site": v.site,
        "inquiry_id": v.inquiry_id,
        "standard": evaluation["standard"],
        "revision": evaluation["revision"],
        "ordinal": ordinal,
        "role": e.role,
        "message_key": e.message_key,
        "direction": e.direction,
        "cls": e.cls,
        "kind": e.kind,
        "at": e.at,
        "reasons_json": json.dumps(list(e.reasons)),
        "folder": e.folder,
        "uid": e.uid,
        "headers": e.headers,
    }
