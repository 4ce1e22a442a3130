"""Words that out-of-office and acknowledgement robots write, per language.

Data, not logic: each list is what mail clients and servers actually put in subjects and bodies
(Exchange/Outlook OOF templates, Sieve vacation, Gmail/Yahoo vacation responders, Lotus Notes).
Subjects are matched after RFC 2047 decoding and casefolding. Add a language by adding words here.
"""

from __future__ import annotations

import re

# Subject prefixes that are only ever written by an auto-responder. Matched at the start of the
# subject, followed by a colon, dash, bracket or the end; phrases unusual enough to also match when a
# space follows are in OOO_PREFIXES_LOOSE.
OOO_PREFIXES = (
    # en (Exchange: "Automatic reply", older Outlook: "Out of Office", Gmail/Yahoo: "Auto-Reply")
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "automatic response",
    "out of office",
    "out of the office",
    "out-of-office",
    "out of office reply",
    "out of office autoreply",
    "ooo",
    "away from the office",
    "away from office",
    "on vacation",
    "on leave",
    "vacation",
    "absence",
    # pt
    "resposta automática",
    "resposta automatica",
    "resposta de ausência",
    "ausência",
    "ausente",
    "fora do escritório",
    "férias",
    # es
    "respuesta automática",
    "respuesta automatica",
    "respuesta de ausencia",
    "fuera de la oficina",
    "fuera de oficina",
    "vacaciones",
    # fr
    "réponse automatique",
    "reponse automatique",
    "réponse automatique d'absence",
    "message d'absence",
    "absent du bureau",
    "absent",
    # de
    "automatische antwort",
    "automatische rückantwort",
    "autom. antwort",
    "abwesenheitsnotiz",
    "abwesenheitsmeldung",
    "abwesenheit",
    "abwesend",
    "nicht im büro",
    "außer haus",
    # it
    "risposta automatica",
    "risposta di assenza",
    "fuori ufficio",
    "fuori sede",
    "assente",
    # nl
    "automatisch antwoord",
    "afwezigheidsbericht",
    "afwezig",
    "niet aanwezig",
    "buiten kantoor",
    # pl
    "odpowiedź automatyczna",
    "automatyczna odpowiedź",
    "autoodpowiedź",
    "nieobecność",
    "poza biurem",
    # ru
    "автоматический ответ",
    "автоответ",
    "нет на месте",
    "вне офиса",
    "в отпуске",
    # ja
    "自動応答",
    "自動返信",
    "自動送信",
    "不在通知",
    "不在",
    "休暇",
    # zh (simplified and traditional)
    "自动回复",
    "自動回覆",
    "自动答复",
    "自動回復",
    "自動回复",
    "休假",
    # nordic, cs, tr, fi (common in multinational dealer groups)
    "automatiskt svar",
    "automatisk svar",
    "autosvar",
    "frånvaro",
    "fraværende",
    "automatická odpověď",
    "otomatik yanıt",
    "automaattinen vastaus",
)

# Prefixes that name only the mechanism ("automatic reply"), not an absence. Exchange's OOF assistant
# uses them, so they mean out-of-office unless the body reads like an acknowledgement robot.
GENERIC_PREFIXES = frozenset(
    {
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "auto-response",
        "autoresponse",
        "automatic response",
        "resposta automática",
        "resposta automatica",
        "respuesta automática",
        "respuesta automatica",
        "réponse automatique",
        "reponse automatique",
        "automatische antwort",
        "automatische rückantwort",
        "autom. antwort",
        "risposta automatica",
        "automatisch antwoord",
        "odpowiedź automatyczna",
        "automatyczna odpowiedź",
        "autoodpowiedź",
        "автоматический ответ",
        "автоответ",
        "自動応答",
        "自動返信",
        "自動送信",
        "自动回复",
        "自動回覆",
        "自动答复",
        "自動回復",
        "自動回复",
        "automatiskt svar",
        "automatisk svar",
        "autosvar",
        "automatická odpověď",
        "otomatik yanıt",
        "automaattinen vastaus",
    }
)

# Subject endings used by AOL, Yahoo and some web mailers instead of a prefix.
OOO_SUFFIXES = (
    "(automatic response)",
    "(auto response)",
    "(auto-reply)",
    "(auto reply)",
    "(autoreply)",
    "[auto-reply]",
    "[autoreply]",
    "(out of office)",
    "(abwesenheit)",
)

# Single words that are too common to match without a colon after them ("Vacation pictures").
_NEEDS_COLON = frozenset(
    {
        "ooo",
        "vacation",
        "absence",
        "ausente",
        "ausência",
        "férias",
        "vacaciones",
        "absent",
        "abwesend",
        "abwesenheit",
        "assente",
        "afwezig",
        "nieobecność",
        "不在",
        "休暇",
        "休假",
    }
)

_PREFIX_RE = re.compile(
    r"^\s*(?P<word>"
    + "|".join(re.escape(p) for p in sorted(OOO_PREFIXES, key=len, reverse=True))
    + r")(?P<sep>\s*[:：\-–\]]|\s+|$)"
)

# Body phrases of absence (not of mere acknowledgement), casefolded.
OOO_BODY = re.compile(
    "|".join(
        (
            # en
            r"\bout of (?:the )?office\b",
            r"\b(?:i am|i'm|i will be|i'll be) (?:currently )?(?:away|out|on (?:vacation|holiday|leave))",
            r"\bcurrently away\b",
            r"\bon (?:annual |parental |sick )?leave\b",
            r"\b(?:on|from) (?:vacation|holiday)\b",
            r"\b(?:i am|i'm|i will be|i'll be) travell?ing\b",
            r"\b(?:limited|intermittent|no) access to (?:e-?mail|my e-?mail)",
            r"\breturning (?:to the office )?on\b",
            r"\bback in the office\b",
            r"\bunable to read your message\b",
            # pt
            r"fora do escritório",
            r"\bde férias\b",
            r"\bausente\b",
            r"\bem licença\b",
            # es
            r"fuera de la oficina",
            r"\bde vacaciones\b",
            r"\bausente\b",
            # fr
            r"\babsente?\b",
            r"\ben congés?\b",
            r"\ben vacances\b",
            # de
            r"nicht im büro",
            r"\babwesend\b",
            r"\bim urlaub\b",
            r"außer haus",
            # it
            r"fuori (?:ufficio|sede)",
            r"\bin ferie\b",
            r"\bassente\b",
            # nl
            r"\bafwezig\b",
            r"\bmet vakantie\b",
            r"niet op kantoor",
            # pl
            r"poza biurem",
            r"\bna urlopie\b",
            r"nieobecn",
            # ru
            r"в отпуске",
            r"вне офиса",
            r"отсутству",
            # ja, zh
            r"不在",
            r"休暇",
            r"休假",
            r"外出",
            r"不在办公室",
        )
    )
)

# Acknowledgement robots: "we received your message" (not an absence).
ACK_BODY = re.compile(
    "|".join(
        (
            r"\bthank you for (?:your|you) (?:e-?mail|message|inquiry|enquiry)",
            r"\bwe (?:have )?received your (?:e-?mail|message|request|inquiry)",
            r"\bticket (?:number|#|id)\b",
            r"recebemos (?:a )?sua mensagem",
            r"hemos recibido su (?:mensaje|correo)",
            r"nous avons (?:bien )?reçu votre",
            r"wir haben ihre (?:nachricht|e-?mail|anfrage) erhalten",
        )
    )
)


def ooo_subject(subject: str) -> tuple[str, bool] | None:
    """The auto-responder marker in a decoded subject and whether it names only the mechanism
    (generic), or None."""
    folded = subject.casefold()
    match = _PREFIX_RE.match(folded)
    if match:
        word, sep = match.group("word"), match.group("sep").strip()
        if sep or word not in _NEEDS_COLON:
            return word, word in GENERIC_PREFIXES
    stripped = folded.rstrip()
    for suffix in OOO_SUFFIXES:
        if stripped.endswith(suffix):
            return suffix, True
    return None
