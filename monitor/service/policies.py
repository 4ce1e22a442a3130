"""Policy versions in the store: which thresholds each ``policy_version`` stood for, per site.

Every stored evaluation names its policy version; registering the version's content (in the evidence
chain) when the daemon starts is what lets an auditor read, years later, which thresholds that name
meant. A version is registered once per site and never changed (a changed policy gets a new version:
``SlaPolicy.with_version`` derives one from the content when none is configured).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Settings
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
