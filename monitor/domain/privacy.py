"""Keeping personal data out of sight: keyed hashes for matching, masks for display."""

from __future__ import annotations

import hashlib
import hmac
import re

_NON_DIGITS = re.compile(r"[^\d+]")


def normalise_number(number: str) -> str:
    """Digits with an optional leading ``+``; separators and spaces dropped."""
    cleaned = _NON_DIGITS.sub("", number.strip())
    return ("+" + cleaned.replace("+", "")) if cleaned.startswith("+") else cleaned.replace("+", "")


def key_value(key: bytes, value: str) -> str:
    """HMAC-SHA256 hex of a normalised value: equal inputs match, the value cannot be recovered."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def key_number(key: bytes, number: str) -> str:
    return key_value(key, normalise_number(number))


def mask_number(number: str) -> str:
    """``+13135550101`` -> ``+1313555****``; short internal extensions (<= 5 digits) are shown as is
    because they identify a desk phone, not a person."""
    n = normalise_number(number)
    digits = n.lstrip("+")
    if not digits:
        return ""
    if len(digits) <= 5:
        return n
    hidden = 4 if len(digits) > 7 else 2
    return n[: len(n) - hidden] + "*" * hidden


def mask_address(address: str) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com``."""
    local, sep, domain = address.strip().partition("@")
    if not sep:
        return "***"
    return (local[:1] + "***@" + domain.lower()) if local else "***@" + domain.lower()
