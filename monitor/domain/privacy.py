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
_PERSON_NAME_KEYS = frozenset(
    {
        "CallerIDName",
        "ConnectedLineName",
        "DestCallerIDName",
        "DestConnectedLineName",
        "OrigTransfererCallerIDName",
    }
)
# Keys whose values can carry a customer's number. Everything else (ids, states, queue names) is
# left alone, which keeps masking cheap enough for the event hot path.
_NUMBER_KEYS = frozenset(
    {
        "CallerIDNum",
        "ConnectedLineNum",
        "DestCallerIDNum",
        "DestConnectedLineNum",
        "Exten",
        "DestExten",
        "Extension",
        "DialString",
        "AppData",
        "Source",
        "Destination",
        "CallerID",
        "ApplicationData",
        "TransfereeCallerIDNum",
        "TransfereeConnectedLineNum",
        "TransfererCallerIDNum",
        "TransfererConnectedLineNum",
        "OrigTransfererCallerIDNum",
        "OrigTransfererConnectedLineNum",
        "SecondTransfererCallerIDNum",
        "SecondTransfererConnectedLineNum",
        "TransferTargetCallerIDNum",
        "TransferTargetConnectedLineNum",
        "Data",
    }
)


def _mask_long_numbers(value: str) -> str:
    return _LONG_NUMBER.sub(lambda m: mask_number(m.group(0)), value)


# One C-level scan per message finds just the lines that may carry personal data.
_SENSITIVE_LINE = re.compile(
    r"^(" + "|".join(sorted(_NUMBER_KEYS | _PERSON_NAME_KEYS)) + r"): ([^\r\n]*)", re.MULTILINE
)


def _mask_line(match: re.Match[str]) -> str:
    key, value = match.group(1), match.group(2)
    if key in _PERSON_NAME_KEYS:
        return match.group(0) if value in ("", "<unknown>") else key + ": ***"
    if len(value) < 7:
        return match.group(0)  # too short to hold a phone number (extensions, "s", "<unknown>")
    return key + ": " + _mask_long_numbers(value)


def mask_message_text(raw: str) -> str:
    """A ``Key: value`` message (AMI event text) with personal data masked before it is stored as
    evidence: phone-number-like values in the keys that can carry one keep only their prefix, caller
    names become ``***``. Ids such as ``1795499232.16`` are not numbers of people and stay intact."""
    return _SENSITIVE_LINE.sub(_mask_line, raw)
