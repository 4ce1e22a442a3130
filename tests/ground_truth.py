"""Expected call figures derived from the capture manifest's SIP ground truth (never copied numbers)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExpectedLeg:
    agent: str
    ring_s: float
    answered: bool


@dataclass(frozen=True)
class ExpectedCall:
    scenario: str
    caller_number: str
    dialed: str
    outcome: str
    answered_by: str | None
    arrived_at: float
    time_to_answer_s: float | None
    queue_wait_s: float | None
    legs: tuple[ExpectedLeg, ...]
    holds_s: tuple[float, ...]
    transfer_to: str | None


def expected_calls(scenario: dict[str, Any]) -> list[ExpectedCall]:
    truth = scenario["ground_truth_sip"]
    agent_legs = truth.get("agent_legs", [])
    controlled = scenario.get("controlled") or {}
    out = []
    for call in truth["customer_calls"]:
        answered = [leg for leg in agent_legs if leg.get("answered")]
        first = min(answered, key=lambda leg: leg["answer_t"]) if answered else None
        summary = call.get("agent_legs_summary", [])
        if first is not None:
            outcome = "answered"
        elif controlled.get("night_mode"):
            outcome = "after_hours"
        elif "queue_wait_before_abandon_est_s" in call:
            outcome = "abandoned"
        else:
            outcome = "voicemail"
        wait = call.get("queue_wait_est_s", call.get("queue_wait_before_abandon_est_s"))
        holds = tuple(h["on_hold_s"] for leg in agent_legs for h in leg.get("holds", []))
        transfer = controlled.get("transfer")
        out.append(
            ExpectedCall(
                scenario=scenario["name"],
                caller_number=call["caller_number"],
                dialed=call["dialed"],
                outcome=outcome,
                answered_by=None if first is None else first["agent_ext"],
                arrived_at=call["invite_sent_t"],
                time_to_answer_s=None if first is None else first["answer_t"] - call["invite_sent_t"],
                queue_wait_s=wait,
                legs=tuple(ExpectedLeg(s["agent_ext"], s["ring_s"], s["answered"]) for s in summary),
                holds_s=holds,
                transfer_to=transfer.rsplit(" ", 1)[-1] if isinstance(transfer, str) else None,
            )
        )
    return out


def us_rings(seconds: float) -> int:
    return math.ceil(seconds / 6.0 - 1e-9)
