"""Customer inquiries delivered by machines: ADF/XML leads and website contact forms.

Lead providers and dealer websites send from ``noreply@`` addresses, sometimes with
``Auto-Submitted: auto-generated``, yet the content is a customer's own request. A message is a lead
when it carries an ADF ``<prospect>`` (inline or as an XML part), or a form body (name / email /
phone / comments fields) delivered by a machine (noreply sender, Reply-To set to someone else,
automatic-submission header, a lead-ish subject or a known lead provider).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.imap.adf import AdfLead, find_adf
from adapters.imap.contact import fold, method_from_value, requested_in_text
from adapters.imap.mime import ParsedMail
from adapters.imap.senders import NOREPLY_LOCALS, local_part
from monitor.domain.mail import ContactMethod

# Form labels (folded: casefolded, accents removed) -> field group.
_FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "first name",
        "last name",
        "full name",
        "customer",
        "customer name",
        "contact name",
        "your name",
        "nome",
        "nome completo",
        "sobrenome",
        "nombre",
        "nombre completo",
        "apellido",
        "apellidos",
    ),
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "your email",
        "correo",
        "correo electronico",
        "endereco de e-mail",
        "endereco de email",
    ),
    "phone": (
        "phone",
        "telephone",
        "phone number",
        "mobile",
        "mobile phone",
        "cell",
        "cell phone",
        "home phone",
        "work phone",
        "daytime phone",
        "telefone",
        "celular",
        "telefono",
        "movil",
        "whatsapp",
    ),
    "message": (
        "comments",
        "comment",
        "message",
        "questions",
        "question",
        "request",
        "requested service",
        "service requested",
        "inquiry",
        "enquiry",
        "details",
        "additional comments",
        "mensagem",
        "comentarios",
        "observacoes",
        "mensaje",
        "comentario",
        "consulta",
        "servico",
        "servicio",
        "servico solicitado",
        "servicio solicitado",
    ),
    "vehicle": (
        "vehicle",
        "vin",
        "year",
        "make",
        "model",
        "mileage",
        "odometer",
        "trim",
        "veiculo",
        "vehiculo",
        "modelo",
        "marca",
        "ano",
        "placa",
        "quilometragem",
        "kilometragem",
        "kilometraje",
    ),
    "contact": (
        "preferred contact",
        "preferred contact method",
        "contact preference",
        "preferred method of contact",
        "best way to reach you",
        "best way to contact you",
        "contact method",
        "how should we contact you",
        "forma de contato",
        "forma de contato preferida",
        "meio de contato",
        "meio de contato preferido",
        "contato preferido",
        "preferencia de contato",
        "metodo de contacto",
        "metodo de contacto preferido",
        "forma de contacto",
        "forma de contacto preferida",
        "contacto preferido",
        "preferencia de contacto",
        "medio de contacto",
    ),
    "when": (
        "preferred date",
        "preferred time",
        "appointment date",
        "requested date",
        "data preferida",
        "horario",
        "fecha",
        "fecha preferida",
        "hora",
    ),
}
_LABEL_GROUP = {label: group for group, labels in _FIELD_GROUPS.items() for label in labels}
_FIELD_LINE = re.compile(r"^[ \t]*([^\n:：]{2,40}?)[ \t]*\*?[ \t]*[:：][ \t]*([^\n]*)$", re.MULTILINE)
_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\(?\d[\d ().-]{6,}\d")

_LEAD_SUBJECT = re.compile(
    r"\b(?:lead|leads|inquiry|enquiry|request|form|appointment|quote|booking|test drive"
    r"|solicitacao|solicitud|cotacao|cotizacion|agendamento|orcamento|presupuesto|contato|contacto|cita)\b"
)
# Lead aggregators and dealer-website platforms whose name in From, X-Mailer or the body marks a lead.
LEAD_PROVIDERS = (
    "cars.com",
    "autotrader",
    "cargurus",
    "edmunds",
    "truecar",
    "kbb.com",
    "kelley blue book",
    "carfax",
    "dealer.com",
    "dealerinspire",
    "dealer inspire",
    "dealeron",
    "dealerfire",
    "dealersocket",
    "elead",
    "vinsolutions",
    "autobytel",
    "autoweb",
    "carsdirect",
    "webmotors",
    "olx autos",
    "coches.net",
    "autoscout24",
    "mobile.de",
)


@dataclass(frozen=True, slots=True)
class LeadInfo:
    reasons: tuple[str, ...]
    customer_email: str | None
    customer_phone: str | None
    requested_contact: ContactMethod | None
    contact_reason: str | None


def form_fields(text: str) -> dict[str, str]:
    """First value per field group among ``Label: value`` lines."""
    found: dict[str, str] = {}
    for match in _FIELD_LINE.finditer(text[:50_000]):
        label = fold(match.group(1)).rstrip("*").strip()
        group = _LABEL_GROUP.get(label)
        if group and group not in found:
            found[group] = match.group(2).strip()
    return found


def _is_form(fields: dict[str, str]) -> bool:
    return ("email" in fields or "phone" in fields) and len(fields) >= 3


def _machine_context(mail: ParsedMail) -> list[str]:
    reasons: list[str] = []
    sender = next((addr for _, addr in mail.addresses("from")), "")
    reply_to = next((addr for _, addr in mail.addresses("reply-to")), "")
    if sender and NOREPLY_LOCALS.match(local_part(sender)):
        reasons.append(f"sent by a machine address ({local_part(sender)}@)")
    if reply_to and reply_to != sender:
        reasons.append("Reply-To names someone other than the sender")
    auto = (mail.header("auto-submitted") or "").lower()
    if auto.startswith("auto-generated"):
        reasons.append("Auto-Submitted: auto-generated (a form robot delivered it)")
    if _LEAD_SUBJECT.search(fold(mail.subject)):
        reasons.append("subject names a lead/request")
    haystack = " ".join((sender, mail.header("x-mailer") or "", mail.text[:5000])).lower()
    provider = next((p for p in LEAD_PROVIDERS if p in haystack), None)
    if provider:
        reasons.append(f"lead provider marker ({provider})")
    return reasons


def _first(pattern: re.Pattern[str], value: str | None) -> str | None:
    match = pattern.search(value or "")
    return match.group(0) if match else None


def find_lead(mail: ParsedMail) -> LeadInfo | None:
    """The lead in a message, or None when it is not one."""
    adf: AdfLead | None = find_adf((*mail.xml, mail.text))
    fields = form_fields(mail.text)
    context = _machine_context(mail)
    if adf is not None:
        reasons = ["ADF/XML lead (<adf><prospect>)"]
    elif _is_form(fields) and context:
        reasons = [f"web-form lead (fields: {', '.join(sorted(fields))})"]
    else:
        return None
    reasons += context
    sender = next((addr for _, addr in mail.addresses("from")), "")
    reply_to = next((addr for _, addr in mail.addresses("reply-to")), None)
    if reply_to and (reply_to == sender or NOREPLY_LOCALS.match(local_part(reply_to))):
        reply_to = None
    customer = reply_to or (adf.email if adf else None) or _first(_ADDRESS, fields.get("email"))
    phone = (adf.phone if adf else None) or _first(_PHONE, fields.get("phone"))
    method, why = _requested(fields, adf, mail.text)
    return LeadInfo(tuple(reasons), customer.lower() if customer else None, phone, method, why)


def _requested(
    fields: dict[str, str], adf: AdfLead | None, text: str
) -> tuple[ContactMethod | None, str | None]:
    if "contact" in fields:
        method = method_from_value(fields["contact"])
        if method:
            # the value is the customer's typing: keep addresses and numbers out of the reason
            shown = _PHONE.sub("#", _ADDRESS.sub("***", fields["contact"]))[:40]
            return method, f'form field "preferred contact: {shown}"'
    if adf is not None and adf.preferred is not None:
        return adf.preferred, f"ADF {adf.preferred} preferredcontact=1"
    found = requested_in_text((adf.comments if adf and adf.comments else "") + "\n" + text)
    return found if found else (None, None)
