"""Auto vs human: every labelled fixture, every rule family, leads and requested contact."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.imap.classify import MailAnalysis, analyse, classify_bytes
from adapters.imap.contact import method_from_value, requested_in_text
from adapters.imap.mime import parse_message
from monitor.cli import app
from tests.paths import EMAIL

# labels.tsv describes kinds in finer words than the classifier's eight kinds (CONTRACTS section 2).
# This is the vocabulary mapping, not expectations: each label kind names the kind it belongs to.
# "notification/list" is labelled as both, so either is a match.
LABEL_KINDS: dict[str, frozenset[str]] = {
    "ooo": frozenset({"ooo"}),
    "autoreply": frozenset({"autoreply"}),
    "challenge-response": frozenset({"autoreply"}),  # a robot's reply asking us to prove we are human
    "bounce": frozenset({"bounce"}),
    "delay-dsn": frozenset({"bounce"}),  # a DSN with Action: delayed
    "read-receipt": frozenset({"receipt"}),
    "abuse-report": frozenset({"notification"}),  # ARF feedback report
    "system-notification": frozenset({"notification"}),
    "auto-generated": frozenset({"notification"}),  # RFC 3834: generated, not a response
    "list": frozenset({"list"}),
    "marketing": frozenset({"list"}),  # bulk mail through a sending platform's list
    "notification/list": frozenset({"notification", "list"}),
    "new-message": frozenset({"human"}),
    "reply": frozenset({"human"}),
    "forward": frozenset({"human"}),
    "lead": frozenset({"lead"}),
}


@dataclass(frozen=True)
class Label:
    file: str
    label: str
    kind: str
    hard: bool
    sha256: str

    @property
    def path(self) -> Path:
        return EMAIL / self.file


def labels() -> list[Label]:
    with (EMAIL / "labels.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Label(r["file"], r["label"], r["kind"], r["hard"] == "yes", r["sha256"]) for r in rows]


LABELS = labels()


def test_labels_cover_every_fixture_and_vocabulary() -> None:
    files = {str(p.relative_to(EMAIL)) for p in EMAIL.glob("*/*.eml")}
    assert {row.file for row in LABELS} == files
    assert {row.kind for row in LABELS} <= set(LABEL_KINDS)
    assert sum(row.hard for row in LABELS) == 10


@pytest.mark.parametrize("row", LABELS, ids=lambda r: r.file + (" HARD" if r.hard else ""))
def test_fixture_matches_label(row: Label) -> None:
    raw = row.path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == row.sha256, "fixture bytes changed"
    result = classify_bytes(raw)
    assert result.cls == row.label, result.reasons
    assert result.kind in LABEL_KINDS[row.kind], result.reasons
    assert result.reasons and all(result.reasons)


def accuracy_table(results: dict[str, tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """label kind -> (right, total), from ``file -> (class, kind)``."""
    table: dict[str, list[int]] = {}
    for row in LABELS:
        cls, kind = results[row.file]
        cell = table.setdefault(f"{row.label}/{row.kind}", [0, 0])
        cell[0] += cls == row.label and kind in LABEL_KINDS[row.kind]
        cell[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(table.items())}


def test_cli_jsonl_matches_every_label(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(row.path) for row in LABELS]
    result = CliRunner().invoke(app, ["classify", "--format", "jsonl", *paths])
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.output.splitlines()]
    assert [item["file"] for item in items] == paths
    assert all(set(item) == {"file", "class", "kind", "reasons"} for item in items)
    by_file = {str(Path(i["file"]).relative_to(EMAIL)): (i["class"], i["kind"]) for i in items}
    table = accuracy_table(by_file)
    with capsys.disabled():
        print("\nper-kind accuracy on the fixtures (right/total):")
        for kind, (right, total) in table.items():
            print(f"  {kind:<28} {right}/{total}")
    assert all(right == total for right, total in table.values())
    hard = [row for row in LABELS if row.hard]
    assert all(by_file[r.file][0] == r.label for r in hard)


def test_cli_table_and_errors(tmp_path: Path) -> None:
    ok = CliRunner().invoke(app, ["classify", str(LABELS[0].path)])
    assert ok.exit_code == 0 and "reasons" in ok.output.splitlines()[0]
    missing = CliRunner().invoke(app, ["classify", str(tmp_path / "nope.eml"), str(LABELS[0].path)])
    assert missing.exit_code == 1
    assert LABELS[0].path.name[:40] in missing.output
    bad = CliRunner().invoke(app, ["classify", "--format", "xml", str(LABELS[0].path)])
    assert bad.exit_code == 2


# -- rule families on small synthetic messages --------------------------------------------------------

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


def test_plain_person_is_human() -> None:
    assert decision({}) == ("human", "human")
    assert run({}).classification.reasons == ("no automatic-mail markers",)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, ("auto", "autoreply")),
        ({"Auto-Submitted": "Auto-Replied (vacation)"}, ("auto", "ooo")),
        ({"Auto-Submitted": "auto-generated"}, ("auto", "notification")),
        ({"Auto-Submitted": "auto-notified"}, ("auto", "notification")),
        ({"Auto-Submitted": "no"}, ("human", "human")),
        ({"Auto-Submitted": "no", "Return-Path": "<>"}, ("human", "human")),
        ({"X-Autoreply": "yes"}, ("auto", "autoreply")),
        ({"X-Autorespond": "Thank you"}, ("auto", "autoreply")),
        ({"X-Autoresponder": "1"}, ("auto", "autoreply")),
        ({"X-Autoreply": "no"}, ("human", "human")),
        ({"Precedence": "auto_reply"}, ("auto", "autoreply")),
        ({"Precedence": "bulk"}, ("auto", "list")),
        ({"Precedence": "junk"}, ("auto", "list")),
        ({"Precedence": "list"}, ("auto", "list")),
        ({"Precedence": "bulk", "Return-Path": "<>"}, ("auto", "autoreply")),
        ({"List-Id": "Owners <owners.example.org>"}, ("auto", "list")),
        ({"List-Unsubscribe": "<mailto:unsub@example.org>"}, ("auto", "list")),
        ({"List-Post": "<mailto:all@example.org>"}, ("auto", "list")),
        ({"X-Campaignid": "spring-sale"}, ("auto", "list")),
        ({"Return-Path": "<>"}, ("auto", "notification")),
        ({"X-Loop": "helpdesk@example.org"}, ("auto", "notification")),
        ({"From": "Portal <no-reply@portal.example.net>"}, ("auto", "notification")),
        ({"From": "GitHub <notifications@github.com>"}, ("auto", "notification")),
        ({"From": "Mail Delivery System <MAILER-DAEMON@mx.example.net>"}, ("auto", "bounce")),
        ({"From": "postmaster@example.net", "Subject": "Undeliverable: Brakes"}, ("auto", "bounce")),
        ({"X-Failed-Recipients": "x@example.net"}, ("auto", "bounce")),
        ({"Return-Path": "<>", "Subject": "Undelivered Mail Returned to Sender"}, ("auto", "bounce")),
        ({"X-MS-Exchange-Inbox-Rules-Loop": "jane@example.org"}, ("auto", "autoreply")),
        ({"X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent"}, ("auto", "autoreply")),
        ({"X-Apple-Action": "Vacation"}, ("auto", "ooo")),
        # Outlook sets this on ordinary mail: alone it means nothing
        ({"X-Auto-Response-Suppress": "All"}, ("human", "human")),
        ({"X-Auto-Response-Suppress": "DR, RN, NRN, OOF, AutoReply"}, ("human", "human")),
        # a bounce subject from a person is a person (no machine sender, no null Return-Path)
        ({"Subject": "Undeliverable: my old address"}, ("human", "human")),
        ({"Subject": "Re: Brakes", "In-Reply-To": "<a@b>"}, ("human", "human")),
    ],
)
def test_header_rules(headers: dict[str, str], expected: tuple[str, str]) -> None:
    assert decision(headers) == expected


def test_x_auto_response_suppress_is_noted_not_decisive() -> None:
    reasons = run({"X-Auto-Response-Suppress": "All"}).classification.reasons
    assert any("ignored" in r for r in reasons)


def test_missing_from_with_a_system_subject_is_a_notification() -> None:
    raw = b"To: ops@example.com\nSubject: Backup job completed\n\nAll good.\n"
    assert classify_bytes(raw).kind == "notification"


def test_challenge_response_outranks_its_dsn_costume() -> None:
    headers = {"From": "noreply@spamarrest.com", "Subject": "Re: Brakes (verification required)"}
    body = "I use a spam filter system. Please verify that you are a human by clicking below.\n"
    result = run(headers, body).classification
    assert (result.cls, result.kind) == ("auto", "autoreply")
    assert any("challenge" in r for r in result.reasons)


def report(report_type: str, part_type: str, fields: str) -> bytes:
    return (
        "From: Jane <jane@example.org>\nTo: service@example.com\nSubject: Read: Brakes\n"
        f'MIME-Version: 1.0\nContent-Type: multipart/report; report-type={report_type}; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nHuman readable part.\n"
        f"--b\nContent-Type: {part_type}\n\n{fields}\n--b--\n"
    ).encode()


@pytest.mark.parametrize(
    ("rtype", "part", "fields", "kind"),
    [
        ("delivery-status", "message/delivery-status", "Reporting-MTA: dns; mx\n\nAction: failed", "bounce"),
        (
            "disposition-notification",
            "message/disposition-notification",
            "Disposition: a/b; displayed",
            "receipt",
        ),
        ("feedback-report", "message/feedback-report", "Feedback-Type: abuse", "notification"),
    ],
)
def test_reports(rtype: str, part: str, fields: str, kind: str) -> None:
    result = classify_bytes(report(rtype, part, fields))
    assert (result.cls, result.kind) == ("auto", kind)


def test_forwarded_bounce_inside_a_person_mail_is_human() -> None:
    inner = report("delivery-status", "message/delivery-status", "Action: failed").decode()
    raw = (
        "From: Jane <jane@example.org>\nTo: service@example.com\nSubject: Fwd: look at this\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="outer"\n\n'
        "--outer\nContent-Type: text/plain\n\nWhy did this bounce?\n"
        f"--outer\nContent-Type: message/rfc822\n\n{inner}\n--outer--\n"
    ).encode()
    assert classify_bytes(raw).kind == "human"


# Out-of-office subjects, encoded as mail clients send them, with no other automatic signal.
OOO_SUBJECTS = [
    ("en", "Automatic reply: Brakes"),
    ("en", "Out of Office: Brakes"),
    ("en", "Auto-Reply: Brakes"),
    ("pt", "Resposta automática: Revisão"),
    ("es", "Respuesta automática: Cita"),
    ("fr", "Réponse automatique : Rendez-vous"),
    ("de", "Automatische Antwort: Termin"),
    ("de", "Abwesenheitsnotiz: Termin"),
    ("it", "Risposta automatica: Appuntamento"),
    ("nl", "Automatisch antwoord: Afspraak"),
    ("pl", "Odpowiedź automatyczna: Wizyta"),
    ("pl", "Automatyczna odpowiedź: Wizyta"),
    ("ru", "Автоматический ответ: Запись"),
    ("ru", "Автоответ: Запись"),
    ("ja", "自動応答: 点検"),
    ("zh", "自动回复: 保养预约"),
    ("zh", "自動回覆：保養預約"),
    ("en", "Brakes (Automatic Response)"),
]


def encoded_word(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?b?{base64.b64encode(text.encode(charset)).decode()}?="


@pytest.mark.parametrize(("lang", "subject"), OOO_SUBJECTS, ids=[f"{lang}:{s}" for lang, s in OOO_SUBJECTS])
def test_out_of_office_subjects_in_many_languages(lang: str, subject: str) -> None:
    for value in (subject, encoded_word(subject)):
        assert decision({"Subject": value}) == ("auto", "ooo"), (lang, value)


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Automatic reply: Brakes",  # a person answering an auto-reply
        "Vacation pictures of my car",
        "Absence of brake fluid warning light",
        "Automatically adjusting headlights broken",
    ],
)
def test_subjects_that_only_look_automatic_stay_human(subject: str) -> None:
    assert decision({"Subject": subject}) == ("human", "human")


def test_generic_auto_reply_subject_with_acknowledgement_body_is_autoreply() -> None:
    body = "Thank you for your message. We have received your request and opened ticket #123.\n"
    assert decision({"Subject": "Auto-Reply: Brakes"}, body) == ("auto", "autoreply")
    assert decision({"Subject": "Auto-Reply: Brakes"}, "I am out of the office until Monday.\n") == (
        "auto",
        "ooo",
    )


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
