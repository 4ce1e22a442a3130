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


_LONG_NUMBER = re.compile(r"(?<![\w.])\+?\d[\d ()-]{5,}\d(?![\w.])")
_NAME_KEYS = ("CallerIDName", "ConnectedLineName", "DestCallerIDName", "DestConnectedLineName")


def mask_message_text(raw: str) -> str:
    """A ``Key: value`` message (AMI event text) with personal data masked before it is stored as
    evidence: every phone-number-like value keeps only its prefix, caller names become ``***``.
    Ids such as ``1795499232.16`` are not numbers of people and stay intact."""
    out = []
    for line in raw.split("\n"):
        key, sep, value = line.partition(": ")
        if sep and key in _NAME_KEYS and value.strip("\r") not in ("", "<unknown>"):
            value = "***" + ("\r" if value.endswith("\r") else "")
        elif sep:
            value = _LONG_NUMBER.sub(lambda m: mask_number(m.group(0)), value)
        out.append(key + sep + value if sep else line)
    return "\n".join(out)
