"""The composition root: settings -> calendars, policies, trackers, services, store, sources.

Nothing is built at import time; every function takes what it needs so tests and the CLI compose
exactly the same objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from monitor.config import MailboxSettings, Settings, SiteSettings
from monitor.domain.cadence import ring_cycle_seconds
from monitor.domain.inquiries import InquiryBook, KindRule, MailboxRules
from monitor.domain.privacy import key_number, key_value
from monitor.domain.records import SiteRules
from monitor.domain.topology import PbxTopology
from monitor.domain.tracker import CallTracker
from monitor.service.calls import CallService, CallSink


def site_rules(settings: Settings, site: SiteSettings, topology: PbxTopology | None = None) -> SiteRules:
    if topology is None:
        pbx = next((p for p in settings.pbx if p.site == site.id), None)
        topology = pbx.topology() if pbx is not None else PbxTopology()
    return SiteRules(
        site=site.id,
        calendar=site.calendar(),
        policy=settings.policy_for(site.id),
        ring_cycle_s=ring_cycle_seconds(site.ring_cadence),
        topology=topology,
    )


def number_keyer(key: bytes) -> Callable[[str], str]:
    def keyer(number: str) -> str:
        return key_number(key, number)

    return keyer


def call_service(
    settings: Settings,
    site: SiteSettings,
    hmac_key: bytes,
    sinks: Iterable[CallSink] = (),
    *,
    keep_evidence: bool = True,
) -> CallService:
    tracker = CallTracker(
        site_rules(settings, site),
        key_number=number_keyer(hmac_key),
        stale_after_s=settings.monitor.stale_call_after_s,
    )
    return CallService(tracker, sinks, keep_evidence=keep_evidence)


def mailbox_rules(settings: Settings, mailbox: MailboxSettings, hmac_key: bytes) -> MailboxRules:
    site = settings.site_by_id(mailbox.site)
    rules = []
    for rule in mailbox.kind_rules:
        sender = rule.sender.strip().lower()
        if sender.startswith("@"):
            rules.append(KindRule(rule.kind, domain=sender[1:]))
        else:
            rules.append(KindRule(rule.kind, key=key_value(hmac_key, sender)))
    return MailboxRules(
        site=site.id,
        mailbox=mailbox.label,
        kind=mailbox.kind,
        calendar=site.calendar(),
        policy=settings.policy_for(site.id),
        kind_rules=tuple(rules),
    )


def inquiry_books(settings: Settings, hmac_key: bytes) -> list[InquiryBook]:
    return [InquiryBook(mailbox_rules(settings, m, hmac_key)) for m in settings.mailbox]
