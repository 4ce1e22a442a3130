"""ADF (Auto-lead Data Format, the automotive industry's XML lead) reading.

Only ``<prospect><customer><contact>`` matters here: the customer's email and phone, which of them
the customer marked ``preferredcontact="1"``, and the customer's comments. The XML comes from
strangers, so only the ``<adf>...</adf>`` element is parsed (any DOCTYPE and its entities are cut
off before the parser sees them) and a regex fallback reads documents the parser rejects.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from monitor.domain.mail import ContactMethod

MAX_ADF_CHARS = 200_000
_START = re.compile(r"<\?adf\b|<adf\b", re.IGNORECASE)
# Elements are found as an opening tag, then the first closing tag after it. A lazy ``<adf\b.*?</adf>``
# is the same match, but when no closing tag follows it retries from every later opening tag, each time
# to the end: 38,000 "<adf>" without "</adf>" took 33 s.
_ADF_OPEN = re.compile(r"<adf\b", re.IGNORECASE)
_ADF_CLOSE = re.compile(r"</adf\s*>", re.IGNORECASE)
_CUSTOMER_OPEN = re.compile(r"<customer\b", re.IGNORECASE)
_CUSTOMER_CLOSE = re.compile(r"</customer\s*>", re.IGNORECASE)
_ELEMENT = r"<{tag}\b([^>]*)>([^<]*)</{tag}\s*>"
_PREFERRED = re.compile(r"""preferredcontact\s*=\s*["']?1""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AdfLead:
    email: str | None
    phone: str | None
    preferred: ContactMethod | None  # the contact element marked preferredcontact="1"
    comments: str | None


def _pick(items: list[tuple[str, str]]) -> tuple[str | None, bool]:
    """The preferred value if one is marked, else the first; and whether it was marked."""
    for attrs, value in items:
        if _PREFERRED.search(attrs) and value.strip():
            return value.strip(), True
    for _, value in items:
        if value.strip():
            return value.strip(), False
    return None, False


def _attrs(element: ET.Element) -> str:
    return " ".join(f'{k}="{v}"' for k, v in element.attrib.items())


def _from_tree(doc: str) -> AdfLead | None:
    try:
        root = ET.fromstring(doc)
    except ET.ParseError:
        return None
    lowered = {el: el.tag.lower() for el in root.iter() if isinstance(el.tag, str)}
    customers = [el for el, tag in lowered.items() if tag == "customer"]
    if not customers:
        return None
    customer = customers[0]
    emails: list[tuple[str, str]] = []
    phones: list[tuple[str, str]] = []
    comments: list[str] = []
    for el in customer.iter():
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag == "email":
            emails.append((_attrs(el), el.text or ""))
        elif tag == "phone":
            phones.append((_attrs(el), el.text or ""))
        elif tag == "comments" and el.text:
            comments.append(el.text.strip())
    return _lead(emails, phones, "\n".join(comments) or None)


def _element(
    text: str, opening: re.Pattern[str], closing: re.Pattern[str], start: int, end: int
) -> str | None:
    """From the first opening tag in ``text[start:end]`` to the first closing tag after it."""
    first = opening.search(text, start, end)
    if first is None:
        return None
    last = closing.search(text, first.end(), end)
    return None if last is None else text[first.start() : last.end()]


def _from_regex(doc: str) -> AdfLead | None:
    block = _element(doc, _CUSTOMER_OPEN, _CUSTOMER_CLOSE, 0, len(doc))
    if block is None:
        return None

    def items(tag: str) -> list[tuple[str, str]]:
        return re.findall(_ELEMENT.format(tag=tag), block, re.IGNORECASE)

    comments = [value for _, value in items("comments")]
    return _lead(items("email"), items("phone"), "\n".join(comments) or None)


def _lead(emails: list[tuple[str, str]], phones: list[tuple[str, str]], comments: str | None) -> AdfLead:
    email, email_marked = _pick(emails)
    phone, phone_marked = _pick(phones)
    preferred: ContactMethod | None = None
    if phone_marked:
        preferred = "phone"
    elif email_marked:
        preferred = "email"
    return AdfLead(email.lower() if email else None, phone, preferred, comments)


def find_adf(texts: tuple[str, ...]) -> AdfLead | None:
    """The first ADF document with a customer in any of the texts."""
    for text in texts:
        start = _START.search(text)
        if not start:
            continue
        doc = _element(text, _ADF_OPEN, _ADF_CLOSE, start.start(), start.start() + MAX_ADF_CHARS)
        if doc is None:
            continue
        lead = _from_tree(doc) or _from_regex(doc)
        if lead is not None:
            return lead
    return None
