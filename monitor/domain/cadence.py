"""Ringback cadence: how long one ring cycle lasts, per country, and rings from elapsed time.

A caller counts "rings" by the ringback tone they hear; the standard "answered within three rings"
is therefore a duration: three cycles of the country's cadence (ITU-T E.180 supplement values).
"""

from __future__ import annotations

import math

# Seconds per full ring cycle (tone + silence).
RING_CYCLE_S: dict[str, float] = {
    "US": 6.0,
    "CA": 6.0,
    "UK": 3.0,
    "GB": 3.0,
    "AU": 3.0,
    "NZ": 3.0,
    "IN": 3.0,
    "JP": 3.0,
    "BR": 5.0,
    "CN": 5.0,
    "MX": 5.0,
    "FR": 5.0,
    "DE": 5.0,
    "ES": 4.5,
    "AT": 6.0,
    "PT": 6.0,
    "SE": 6.0,
    "BE": 4.0,
    "IL": 4.0,
    "CL": 4.0,
}


class UnknownCadence(ValueError):
    pass


def ring_cycle_seconds(cadence: str | float | int) -> float:
    """``"US"`` -> 6.0; a number is taken as seconds per cycle."""
    if isinstance(cadence, int | float):
        if cadence <= 0:
            raise UnknownCadence(f"ring cycle must be positive seconds, got {cadence!r}")
        return float(cadence)
    text = cadence.strip()
    try:
        seconds = float(text)
    except ValueError:
        code = text.upper()
        if code not in RING_CYCLE_S:
            known = ", ".join(sorted(RING_CYCLE_S))
            raise UnknownCadence(f"unknown ring cadence {cadence!r}; use one of {known} or seconds") from None
        return RING_CYCLE_S[code]
    return ring_cycle_seconds(seconds)


def rings_for(elapsed_s: float, cycle_s: float) -> int:
    """Ring cycles started within ``elapsed_s``: 0 s -> 0, (0, cycle] -> 1, ...

    A tiny epsilon absorbs float noise so exactly 18.0 s with a 6 s cycle is 3 rings, not 4.
    """
    if elapsed_s <= 0:
        return 0
    return max(1, math.ceil(elapsed_s / cycle_s - 1e-9))
