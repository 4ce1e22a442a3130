"""How the customer asked to be answered: phone, email or SMS.

Three sources, strongest first: a form field ("Preferred contact method: Phone"), an ADF
``preferredcontact="1"`` attribute (``leads``), and plain-language phrases in the customer's own
words (en, pt, es). Matching runs on casefolded text with accents removed, because customers often
type "llameme" and "ligacao" without them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import get_args

from monitor.domain.mail import ContactMethod

METHODS: tuple[ContactMethod, ...] = get_args(ContactMethod)


def fold(text: str) -> str:
    """Casefolded, accents stripped, whitespace collapsed."""
    folded = text.casefold()
    if folded.isascii():  # the common case: nothing to strip, and this runs on every message body
        return " ".join(folded.split())
    decomposed = unicodedata.normalize("NFKD", folded)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.split())


_EMAIL = r"(?:e-?mail|correo(?: electronico)?)"
# Verbs that turn "by email" from a mention ("I sent the photos by email") into a request.
_PT_ASK = (
    r"(?:responder|responda|respondam|resposta|retorno|retornar|retornem|contato|contatar|contate"
    r"|contatem|contactar|falar comigo|confirmar|confirme|confirmem|prefiro|avise|avisem|me avise"
    r"|me avisem|avisar)"
)
_ES_ASK = (
    r"(?:responder|responda|respondan|respuesta|contestar|conteste|contactar|contactarme"
    r"|contacten(?:me)?|comunicarse conmigo|confirmar|confirme|confirmen|prefiero|aviseme|avisenme"
    r"|avisar(?:me)?)"
)
_PHRASES: tuple[tuple[ContactMethod, str, tuple[str, ...]], ...] = (
    # (method, language, patterns on folded text), strongest wording first
    (
        "sms",
        "en",
        (
            r"\btext me\b",
            r"\bsend me a text\b",
            r"\b(?:contact|reach|message) me (?:by|via|on) (?:text|sms|whatsapp)\b",
            r"\b(?:prefer|rather) (?:a )?(?:text|sms)\b",
            r"\b(?:texting|a text|sms) is (?:best|better|fine)\b",
        ),
    ),
    (
        "sms",
        "pt",
        (
            rf"\b{_PT_ASK} (?:me )?por (?:sms|whats ?app|mensagem de texto)\b",
            r"\bme (?:mande|manda|envie) (?:uma )?mensagem\b",
            r"\bme chama no (?:zap|whats)",
        ),
    ),
    (
        "sms",
        "es",
        (
            rf"\b{_ES_ASK} (?:me )?por (?:sms|whats ?app|mensaje de texto)\b",
            r"\benvie(?:me|nme) un (?:mensaje|sms)\b",
        ),
    ),
    (
        "phone",
        "en",
        (
            r"\b(?:please )?call me\b",
            r"\bgive me a (?:call|ring)\b",
            r"\b(?:phone|ring) me\b",
            r"\b(?:reach|contact) me (?:by|on|at|via) (?:tele)?phone\b",
            r"\bprefer (?:a )?(?:phone call|call|to be called|(?:tele)?phone)\b",
            r"\b(?:a )?(?:phone call|phone|call) (?:is|would be) (?:best|better|preferred|easiest)\b",
        ),
    ),
    (
        "phone",
        "pt",
        (
            r"\bligue-me\b|\bligue para mim\b|\bme lig(?:a|ue|uem)\b|\bpode(?:m)? me ligar\b",
            r"\bprefiro (?:que me liguem|uma ligacao)\b",
            rf"\b{_PT_ASK} (?:me )?por telefone\b",
            r"\b(?:contat|contact)ad[oa] por telefone\b|\bme retorne a ligacao\b",
        ),
    ),
    (
        "phone",
        "es",
        (
            r"\bllame(?:me|nme)\b|\bllamarme\b|\bme (?:puede|pueden|podrian) llamar\b",
            r"\bprefiero (?:que me llamen|una llamada)\b",
            rf"\b{_ES_ASK} (?:me )?por telefono\b",
        ),
    ),
    (
        "email",
        "en",
        (
            r"\b(?:reply|respond|answer|contact me|get back to me|confirm|write to me) (?:by|via) e-?mail\b",
            r"\be-?mail (?:is|would be) (?:best|better|preferred|easiest|fine)\b",
            r"\bemail me\b",
            r"\bprefer (?:to be contacted (?:by|via) )?e-?mail\b",
            r"\b(?:by|via) e-?mail (?:please|only)\b",
        ),
    ),
    (
        "email",
        "pt",
        (
            r"\b(?:contat|contact)ad[oa] por e-?mail\b",
            r"\bprefiro (?:o )?e-?mail\b",
            rf"\b{_PT_ASK} (?:me )?por e-?mail\b",
            r"\bme (?:mande|manda|envie) (?:um )?e-?mail\b",
        ),
    ),
    (
        "email",
        "es",
        (
            rf"\b{_ES_ASK} (?:me )?por {_EMAIL}\b",
            rf"\bprefiero (?:el )?{_EMAIL}\b",
            r"\bescriba(?:me|nme)\b",
            rf"\benvie(?:me|nme) un {_EMAIL}\b",
        ),
    ),
)
_COMPILED = tuple(
    (method, lang, re.compile(pattern)) for method, lang, patterns in _PHRASES for pattern in patterns
)
# "I can't take phone calls", "não me liguem", "no me llamen": a negated phrase asks for nothing.
# One pass that says whether any phrase occurs at all: most messages ask for nothing, and then the
# per-phrase scan below (which finds the earliest non-negated one) is skipped.
_ANY = re.compile("|".join(f"(?:{pattern.pattern})" for _, _, pattern in _COMPILED))
_NEGATION = re.compile(r"(?:\bnot|n't|\bnever|\bno|\bnao|\bnunca|\bsin)\W+(?:\w+\W+)?$")

# Where the customer's own words end and the quoted conversation begins.
_QUOTE_START = re.compile(
    r"^(?:>|-{2,} ?original message|-{2,} ?mensagem original|-{2,} ?mensaje original"
    r"|on .{0,80} wrote:|em .{0,80} escreveu:|el .{0,80} escribio:"
    r"|(?:from|de): .+\n(?:sent|enviad[oa](?: em)?|date|data|fecha): )",
    re.MULTILINE,
)


def own_words(text: str) -> str:
    """The text above the first quoted message (replies quote earlier requests)."""
    folded_lines = fold_keep_lines(text)
    match = _QUOTE_START.search(folded_lines)
    return folded_lines[: match.start()] if match else folded_lines


def fold_keep_lines(text: str) -> str:
    return "\n".join(fold(line) for line in text.splitlines())


def method_from_value(value: str) -> ContactMethod | None:
    """The method a form value names ("Email", "Cell phone", "Text message", "Telefone")."""
    folded = fold(value)
    if re.search(r"\b(?:sms|text|texto|whats ?app|mensagem|mensaje)\b", folded):
        return "sms"
    if re.search(
        r"\b(?:phone|call|telephone|telefone|telefono|celular|movil|mobile|cell|ligacao|llamada)", folded
    ):
        return "phone"
    if re.search(r"\b(?:e-?mail|correo)\b", folded):
        return "email"
    return None


def requested_in_text(text: str) -> tuple[ContactMethod, str] | None:
    """The earliest non-negated request in the customer's own words, and the phrase that said so."""
    words = " ".join(own_words(text).split())
    if _ANY.search(words) is None:
        return None
    best: tuple[int, ContactMethod, str] | None = None
    for method, lang, pattern in _COMPILED:
        for match in pattern.finditer(words):
            if _NEGATION.search(words[max(0, match.start() - 24) : match.start()]):
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), method, f'{lang} phrase "{match.group(0)}"')
            break
    return (best[1], best[2]) if best else None
