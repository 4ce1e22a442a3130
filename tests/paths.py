"""Where the shared, read-only fixtures live: ``../shared`` next to the repository."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ASTERISK = SHARED / "fixtures" / "asterisk"
CAPTURES = ASTERISK / "captures"
EMAIL = SHARED / "fixtures" / "email"


@cache
def manifest() -> dict[str, Any]:
    with (ASTERISK / "manifest.json").open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def scenarios() -> list[dict[str, Any]]:
    """Every scenario with SIP ground truth: the main set and the timestampevents=yes re-runs."""
    data = manifest()
    out = list(data["scenarios"])
    for item in data.get("timestampevents_yes_variant", {}).get("scenarios", []):
        if "ground_truth_sip" in item:
            out.append({**item, "name": "ts_" + item["name"]})
    return out
