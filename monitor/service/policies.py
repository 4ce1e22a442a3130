"""Policy versions in the store: which thresholds each ``policy_version`` stood for, per site.

Every stored evaluation names its policy version; registering the version's content (in the evidence
chain) when the daemon starts is what lets an auditor read, years later, which thresholds that name
meant. A version is registered once per site and never changed (a changed policy gets a new version:
``SlaPolicy.with_version`` derives one from the content when none is configured).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.domain.cadence import ring_cycle_seconds
from monitor.domain.policy import SlaPolicy
from monitor.store.repository import SqlPolicyRepository, ThresholdsFor


def policy_content(policy: SlaPolicy) -> dict[str, Any]:
    """What a version names: every threshold of the policy (the version string itself aside)."""
    return {k: v for k, v in asdict(policy).items() if k != "version"}


def register_policies(engine: Engine, settings: Settings, now: float) -> int:
    """Register each configured site's policy version not registered yet; returns how many were new."""
    new = 0
    with Session(engine) as session, session.begin():
        repo = SqlPolicyRepository(session)
        for site in settings.site:
            policy = settings.policy_for(site.id)
            new += repo.add(policy.version, site.id, policy_content(policy), now)
    return new


def call_thresholds(settings: Settings) -> ThresholdsFor:
    """Site -> the call thresholds stored with each evaluation, in the standard's unit."""
    cache: dict[str, Mapping[str, float]] = {}

    def thresholds_for(site: str) -> Mapping[str, float]:
        found = cache.get(site)
        if found is None:
            if not any(s.id == site for s in settings.site):
                return {}
            policy = settings.policy_for(site)
            found = {"answer_rings": float(policy.answer_within_rings), "hold": policy.max_hold_s}
            cache[site] = found
        return found

    return thresholds_for


def policy_entry(
    settings: Settings, site: str, version: str, registered: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A policy version with its thresholds for a report: as registered in the evidence chain
    (``registered``: its ``policy_version`` row), else from the configuration when that is the version
    configured now (not registered yet: e.g. stored by ``slamon replay --store``), else unknown."""
    configured = next((s for s in settings.site if s.id == site), None)
    entry: dict[str, Any] = {"site": site, "version": version}
    if registered is not None:
        policy = json.loads(registered["policy_json"])
        entry.update(
            source="evidence chain", chain_seq=registered["chain_seq"], record_hash=registered["record_hash"]
        )
    elif configured is not None and settings.policy_for(site).version == version:
        policy = policy_content(settings.policy_for(site))
        entry["source"] = "configuration (not registered in the store)"
    else:
        entry.update(source="unknown: neither registered nor configured", policy=None, thresholds=None)
        return entry
    cycle = ring_cycle_seconds(configured.ring_cadence) if configured else None
    weekday_s = configured.calendar().weekday_length_s() if configured else None
    entry["policy"] = policy
    entry["thresholds"] = thresholds(policy, cycle, weekday_s)
    return entry


def thresholds(policy: Mapping[str, Any], cycle_s: float | None, weekday_s: float | None) -> dict[str, Any]:
    """Each standard's threshold in its unit, and in seconds where the site's cadence and opening
    hours give them (a ring allowance in seconds depends on the site's ring cycle)."""
    rings = policy.get("answer_within_rings")
    days = policy.get("acknowledge_business_days")
    return {
        "answer_rings": {
            "rings": rings,
            "ring_cycle_s": cycle_s,
            "seconds": None if rings is None or cycle_s is None else rings * cycle_s,
        },
        "hold": {"max_s": policy.get("max_hold_s")},
        "first_reply": {"business_s": policy.get("first_reply_business_s")},
        "acknowledge": {
            "business_days": days,
            "business_s": None if days is None or weekday_s is None else days * weekday_s,
        },
    }
