"""Leads (ADF/XML, web forms) and the contact method customers ask for, in en/pt/es."""

from __future__ import annotations

import pytest

from adapters.imap.classify import analyse
from adapters.imap.contact import method_from_value, requested_in_text
from adapters.imap.mime import parse_message
from tests.unit.mail_messages import decision, run

# -- leads --------------------------------------------------------------------------------------------

ADF_LEAD = """\
From: Leads <noreply@leads.example.net>
To: service@example.com
Subject: Service lead
Auto-Submitted: auto-generated
Content-Type: text/plain; charset=utf-8

<?xml version="1.0"?>
<?adf version="1.0"?>
<adf><prospect>
  <vehicle><year>2018</year><make>Ford</make><model>Focus</model></vehicle>
  <customer>
    <contact>
      <name part="full">Ana Lima</name>
      <email>ana.lima@example.org</email>
      <phone type="cellphone" preferredcontact="1">+1 (313) 555-0101</phone>
    </contact>
    <comments>Oil change next week, mornings are fine.</comments>
  </customer>
</prospect></adf>
"""

WEB_FORM_LEAD = """\
From: Dealer Website <no-reply@dealer.example.com>
Reply-To: Pedro Gomez <pedro.gomez@example.org>
To: service@dealer.example.com
Subject: Contact form
Content-Type: text/plain; charset=utf-8

Nombre: Pedro Gomez
Correo electrónico: pedro.gomez@example.org
Teléfono: 313-555-0199
Forma de contacto preferida: WhatsApp / SMS
Vehículo: 2017 Nissan Versa
Comentarios: Necesito cambiar las pastillas de freno.
"""


def test_adf_lead_is_human_lead_with_customer_and_phone_from_adf() -> None:
    result = analyse(parse_message(ADF_LEAD.encode()))
    assert (result.classification.cls, result.classification.kind) == ("human", "lead")
    assert result.lead is not None
    assert result.lead.customer_email == "ana.lima@example.org"
    assert result.customer_phone == "+1 (313) 555-0101"
    assert result.requested_contact == "phone"  # <phone preferredcontact="1">
    assert any("outweighs Auto-Submitted: auto-generated" in r for r in result.classification.reasons)


def test_adf_as_xml_attachment_and_email_preference() -> None:
    xml = (
        ADF_LEAD.split("\n\n", 1)[1]
        .replace("<email>", '<email preferredcontact="1">')
        .replace(' preferredcontact="1">+1', ">+1")
    )
    raw = (
        "From: noreply@leads.example.net\nTo: service@example.com\nSubject: New lead\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nA lead is attached.\n"
        '--b\nContent-Type: application/octet-stream; name="lead.adf"\n'
        'Content-Disposition: attachment; filename="lead.adf"\n\n'
        f"{xml}\n--b--\n"
    ).encode()
    result = analyse(parse_message(raw))
    assert result.classification.kind == "lead"
    assert result.requested_contact == "email"
    assert result.lead is not None and result.lead.customer_email == "ana.lima@example.org"


def test_adf_with_entities_or_broken_xml_still_reads_the_customer() -> None:
    broken = ADF_LEAD.replace("</vehicle>", "").replace("Ana Lima", "Ana &unknown; Lima")
    result = analyse(parse_message(broken.encode()))
    assert result.lead is not None and result.lead.customer_email == "ana.lima@example.org"


def test_web_form_lead_customer_from_reply_to_and_contact_field() -> None:
    result = analyse(parse_message(WEB_FORM_LEAD.encode()))
    assert (result.classification.cls, result.classification.kind) == ("human", "lead")
    assert result.lead is not None and result.lead.customer_email == "pedro.gomez@example.org"
    assert result.customer_phone == "313-555-0199"
    assert result.requested_contact == "sms"
    assert result.contact_reason is not None and "form field" in result.contact_reason


def test_web_form_without_reply_to_takes_the_email_field() -> None:
    raw = WEB_FORM_LEAD.replace("Reply-To: Pedro Gomez <pedro.gomez@example.org>\n", "")
    result = analyse(parse_message(raw.encode()))
    assert result.lead is not None and result.lead.customer_email == "pedro.gomez@example.org"


def test_html_table_form_is_a_lead() -> None:
    raw = (
        b"From: Website <noreply@dealer.example.com>\nReply-To: kim@example.org\n"
        b"To: service@dealer.example.com\nSubject: New service appointment request\n"
        b"Content-Type: text/html; charset=utf-8\n\n"
        b"<table><tr><td>Name</td><td>Kim Park</td></tr><tr><td>Email</td><td>kim@example.org</td></tr>"
        b"<tr><td>Phone</td><td>313 555 0142</td></tr>"
        b"<tr><td>Preferred contact method</td><td>Phone</td></tr>"
        b"</table>"
    )
    result = analyse(parse_message(raw))
    assert result.classification.kind == "lead"
    assert result.requested_contact == "phone"


def test_a_person_listing_fields_is_not_a_lead_without_a_machine_sender() -> None:
    body = "Name: Jane Doe\nPhone: 313 555 0100\nVehicle: 2015 Golf\n\nCan you look at the brakes?\n"
    assert decision({"Subject": "Brakes"}, body) == ("human", "human")


def test_auto_reply_that_quotes_a_lead_is_still_an_auto_reply() -> None:
    headers = {"From": "noreply@leads.example.net", "Auto-Submitted": "auto-replied"}
    assert decision(headers, ADF_LEAD.split("\n\n", 1)[1]) == ("auto", "autoreply")


# -- requested contact method --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "method"),
    [
        ("Please call me back this afternoon.", "phone"),
        ("Could you give me a call tomorrow?", "phone"),
        ("A phone call would be best.", "phone"),
        ("Please reply by email, I am at work.", "email"),
        ("Email is best.", "email"),
        ("Text me when the car is ready.", "sms"),
        ("Please don't call me, email me instead.", "email"),
        ("I can't take phone calls during the day. Please confirm by email.", "email"),
        ("Ligue-me amanhã de manhã, por favor.", "phone"),
        ("Pode me ligar depois das 14h? Me liga!", "phone"),
        ("Prefiro ser contactada por e-mail, pois não consigo atender.", "email"),
        ("Podem responder por e-mail?", "email"),
        ("Me mande uma mensagem por WhatsApp quando estiver pronto.", "sms"),
        ("Não me liguem, prefiro e-mail.", "email"),
        ("Por favor llámeme esta tarde.", "phone"),
        ("Prefiero que me llamen al celular.", "phone"),
        ("Por favor respondan por correo electrónico.", "email"),
        ("Avísenme por SMS cuando esté listo, no me llamen.", "sms"),
        ("Me avisem por WhatsApp, por favor.", "sms"),
        ("Por favor contactarme por SMS cuando esté listo.", "sms"),
        ("Mandei as fotos por e-mail ontem.", None),  # a mention, not a request
        ("I sent the photos by email yesterday.", None),
        ("", None),
    ],
)
def test_requested_contact_phrases(text: str, method: str | None) -> None:
    found = requested_in_text(text)
    assert (found[0] if found else None) == method, found


def test_quoted_text_does_not_speak_for_the_customer() -> None:
    text = (
        "Thanks, see you Friday.\n\nOn Mon, 11 Mar 2024 Advisor wrote:\n> Please call me back at the desk.\n"
    )
    assert requested_in_text(text) is None


@pytest.mark.parametrize(
    ("value", "method"),
    [("Email", "email"), ("Phone", "phone"), ("Cell phone", "phone"), ("Text message", "sms"), ("SMS", "sms"),
     ("Telefone", "phone"), ("Correo electrónico", "email"), ("Llamada", "phone"), ("WhatsApp", "sms"),
     ("No preference", None)],
)  # fmt: skip
def test_contact_field_values(value: str, method: str | None) -> None:
    assert method_from_value(value) == method


def test_human_asking_for_a_call_yields_the_number() -> None:
    result = run({}, "My car makes a noise. Please call me at (313) 555-0177.\n")
    assert result.requested_contact == "phone"
    assert result.customer_phone == "(313) 555-0177"


def test_contact_reasons_carry_no_address_or_number() -> None:
    raw = WEB_FORM_LEAD.replace("WhatsApp / SMS", "Call me on 313-555-0199 or pedro.gomez@example.org")
    result = analyse(parse_message(raw.encode()))
    assert result.requested_contact == "phone"
    joined = " ".join(result.classification.reasons)
    assert "313-555" not in joined and "pedro.gomez@" not in joined
