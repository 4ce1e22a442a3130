"""What ties a message to its conversation: ids, normalised subject, Outlook's Thread-Index.

The domain threads conversations; this module only makes the inputs comparable: Message-IDs with
the same normalisation everywhere (brackets off, domain lower-cased), subjects without reply,
forward and auto-reply prefixes in the languages dealers meet, and the Thread-Index root that
Outlook keeps constant across a conversation even when the subject changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from adapters.imap.mime import ParsedMail
from adapters.imap.ooo_subjects import OOO_PREFIXES

# Reply/forward prefixes: en, de (AW, WG), nordic (SV, VS, VB), nl (Antw, Doorst), fr (TR),
# es/pt (RE, RV, RES, ENC, Fwd), it (R, RIF, I), pl (Odp, PD), tr (YNT, ILT), ru, zh, ja.
_REPLY_WORDS = (
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "vb", "antw", "antwort", "doorst", "tr", "rv", "res",
    "enc", "r", "rif", "i", "odp", "pd", "ynt", "ilt", "atb", "vl", "ref", "отв", "пересл", "回复",
    "回覆", "答复", "转发", "轉寄", "返信", "転送",
)  # fmt: skip
_PREFIX = re.compile(
    r"^\s*(?:"
    r"(?:" + "|".join(re.escape(w) for w in sorted(_REPLY_WORDS, key=len, reverse=True)) + r")"
    r"(?:\s*[\[(]\d+[\])])?\s*[:：]"
    r"|(?:" + "|".join(re.escape(w) for w in sorted(OOO_PREFIXES, key=len, reverse=True)) + r")\s*[:：]"
    r")\s*",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")
THREAD_INDEX_ROOT_BYTES = 22  # FILETIME (6 bytes kept) + conversation GUID (16 bytes)


def normalize_msg_id(value: str) -> str:
    """``<Local@Example.COM>`` -> ``Local@example.com``: local parts are case-sensitive, domains not."""
    cleaned = value.strip().strip("<>").strip()
    local, sep, domain = cleaned.rpartition("@")
    return f"{local}@{domain.lower()}" if sep else cleaned


def msg_ids(mail: ParsedMail, header: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_msg_id(i) for i in mail.message_ids(header) if i.strip("<> ")))


def normalize_subject(subject: str) -> str:
    """Reply, forward and auto-reply prefixes stripped (repeatedly), whitespace removed, casefolded."""
    text = subject
    for _ in range(20):  # "RE: AW: Re[2]: ..." - bounded, a subject is never that deep legitimately
        match = _PREFIX.match(text)
        if not match or match.end() == 0:
            break
        text = text[match.end() :]
    return _WHITESPACE.sub("", text).casefold()


def subject_hash(subject: str) -> str:
    """sha256 hex of the normalised subject; "" for an empty one (nothing to thread on)."""
    normalized = normalize_subject(subject)
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest() if normalized else ""


def thread_index_root(value: str | None) -> str | None:
    """Base64 of the first 22 bytes of an Outlook Thread-Index (constant within a conversation)."""
    if not value:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9+/=]", "", value)
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < THREAD_INDEX_ROOT_BYTES:
        return None
    return base64.b64encode(raw[:THREAD_INDEX_ROOT_BYTES]).decode("ascii")


def message_key(mail: ParsedMail) -> str:
    """De-duplication key: the normalised Message-ID, else a hash of headers a copy keeps."""
    ids = msg_ids(mail, "message-id")
    if ids:
        return ids[0]
    stable = "\n".join(
        (
            mail.raw_header("date") or "",
            ",".join(addr for _, addr in mail.addresses("from")),
            ",".join(addr for _, addr in mail.addresses("to")),
            mail.subject,
            mail.text[:4000],  # the body, not the size: Sent copies lack the Received headers
        )
    )
    return "sha256:" + hashlib.sha256(stable.encode("utf-8", "surrogatepass")).hexdigest()
