"""Auto vs human: every labelled fixture and every rule family (leads: ``test_leads``)."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.imap.classify import classify_bytes
from monitor.cli import app
from tests.paths import EMAIL
from tests.unit.mail_messages import decision, run

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
