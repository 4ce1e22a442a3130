"""Small synthetic messages for classifier tests: a plain person's mail plus the headers under test."""

from __future__ import annotations

from adapters.imap.classify import MailAnalysis, analyse
from adapters.imap.mime import parse_message

Headers = dict[str, str] | list[tuple[str, str]]


def message(headers: Headers, body: str = "Hello,\nsee you soon.\n") -> bytes:
    base = [("From", "Jane Doe <jane@example.org>"), ("To", "service@example.com"), ("Subject", "Brakes")]
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    names = {n.lower() for n, _ in items}
    lines = [f"{n}: {v}" for n, v in base if n.lower() not in names] + [f"{n}: {v}" for n, v in items]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def run(headers: Headers, body: str = "Hello,\nsee you soon.\n") -> MailAnalysis:
    return analyse(parse_message(message(headers, body)))


def decision(headers: Headers, body: str = "Hi\n") -> tuple[str, str]:
    result = run(headers, body).classification
    return result.cls, result.kind
