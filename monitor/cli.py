"""``slamon`` command line (typer). Thin: parse arguments, build through bootstrap, print."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from monitor.config import ConfigError, Settings, load_settings, open_24_7_site
from monitor.tokens import ROLES, create_token

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="slamon: service-level monitor for dealership service desks",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema")
token_app = typer.Typer(no_args_is_help=True, help="API tokens")
report_app = typer.Typer(no_args_is_help=True, help="Reports from the store")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(report_app, name="report")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="slamon.toml", exists=False)]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"slamon: {message}", err=True)
    raise typer.Exit(code)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def replay(
    files: Annotated[list[Path], typer.Argument(help="AMI captures: *.jsonl or raw streams with Timestamp:")],
    config: ConfigOpt = None,
    site: Annotated[str | None, typer.Option(help="site id from the config (default: the first)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl | table")] = "jsonl",
    store: Annotated[
        bool, typer.Option("--store", help="also write the calls to the configured database")
    ] = False,
    all_calls: Annotated[bool, typer.Option("--all", help="include internal and outbound calls")] = False,
) -> None:
    """Feed captures through the live pipeline and print one call record per call."""
    from adapters.asterisk.pipeline import AmiCallPipeline
    from adapters.asterisk.replay import ReplayError, replay_file
    from monitor.bootstrap import call_service
    from monitor.domain.calls import CompletedCall
    from monitor.views import call_table_header, call_table_row

    if fmt not in ("jsonl", "table"):
        _fail("--format must be jsonl or table")
    settings = _settings(config) if config else Settings(site=[open_24_7_site("default")])
    if not settings.site:
        settings = settings.model_copy(update={"site": [open_24_7_site("default")]})
    site_cfg = settings.site_by_id(site) if site else settings.site[0]
    if store:
        try:
            key = settings.hmac_key()
        except ConfigError as exc:
            _fail(str(exc))
    else:
        key = secrets.token_bytes(32)  # nothing is stored: keys only need to be consistent in this run
    completed: list[CompletedCall] = []
    service = call_service(settings, site_cfg, key, [completed.append])
    pipeline = AmiCallPipeline(service)
    if fmt == "table":
        typer.echo(call_table_header())
    for path in files:
        if not path.exists():
            _fail(f"{path}: no such file")
        try:
            replay_file(path, pipeline)
        except ReplayError as exc:
            _fail(str(exc))
        service.close_all(pipeline.last_event_at or 0.0, reason="end_of_capture")
        for item in completed:
            if item.record.direction != "inbound" and not all_calls:
                continue
            if fmt == "jsonl":
                typer.echo(json.dumps(item.record.to_dict()))
            else:
                typer.echo(call_table_row(item.record))
        if store:
            import time

            from monitor.service.policies import call_thresholds, register_policies
            from monitor.service.writer import write_batch
            from monitor.store.engine import make_engine, upgrade

            engine = make_engine(settings.monitor.database_url)
            upgrade(engine)
            register_policies(engine, settings, time.time())  # stored records name their policy version
            result = write_batch(engine, completed, call_thresholds(settings))
            typer.echo(
                f"stored {result.calls_written} new calls ({result.duplicates} already stored)", err=True
            )
        completed.clear()


@app.command()
def sync(config: Annotated[Path, typer.Option("--config", "-c", help="slamon.toml")]) -> None:
    """One read-only pass over every configured mailbox: store what was found, evaluate, exit."""
    import asyncio
    import time

    from adapters.imap.errors import ImapError
    from monitor.domain.inquiries import summarize
    from monitor.mailboxes import MailRuntime
    from monitor.service.policies import register_policies
    from monitor.store.engine import make_engine, upgrade

    settings = _settings(config)
    if not settings.mailbox:
        _fail("no [[mailbox]] configured")
    try:
        key = settings.hmac_key()
    except ConfigError as exc:
        _fail(str(exc))
    engine = make_engine(settings.monitor.database_url)
    try:
        upgrade(engine)
        register_policies(engine, settings, time.time())
        mail = MailRuntime(settings, engine, key)
        mail.load_history()
        try:
            mail.build_sources()
            counts = asyncio.run(mail.sync_once())
        except (ImapError, ConfigError, OSError) as exc:
            _fail(f"sync failed: {exc}", code=1)
        views = mail.evaluate()
    finally:
        engine.dispose()
    for name, count in counts.items():
        typer.echo(f"{name}: {count} message(s) read")
    totals = summarize(views)
    typer.echo(
        f"inquiries: {len(views)} ({totals['open']} open, {totals['at_risk']} at risk, "
        f"{totals['met']} met, {totals['breached']} breached)"
    )


@report_app.command("inquiries")
def report_inquiries(
    config: Annotated[Path, typer.Option("--config", "-c", help="slamon.toml")],
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 instant (default: now)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl | table")] = "table",
    site: Annotated[str | None, typer.Option(help="only this site")] = None,
) -> None:
    """Inquiry items (CONTRACTS section 5) evaluated at ``--at``, rebuilt from the stored messages."""
    import time
    from datetime import datetime

    from monitor.service.reports import inquiries_at
    from monitor.store.engine import make_engine, upgrade
    from monitor.views import inquiry_item

    if fmt not in ("jsonl", "table"):
        _fail("--format must be jsonl or table")
    settings = _settings(config)
    when = time.time()
    if at is not None:
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            _fail(f"--at {at!r} is not an ISO 8601 instant")
        if parsed.tzinfo is None:
            _fail(f"--at {at!r} has no UTC offset; write e.g. {at}+00:00")
        when = parsed.timestamp()
    try:
        key = settings.hmac_key()
    except ConfigError as exc:
        _fail(str(exc))
    engine = make_engine(settings.monitor.database_url)
    upgrade(engine)
    try:
        reported = inquiries_at(settings, engine, key, when, site=site)
    finally:
        engine.dispose()
    if fmt == "jsonl":
        for item in reported:
            typer.echo(json.dumps(inquiry_item(item.view, item.zone)))
        return
    header = ("received", "mailbox", "kind", "customer", "status", "risk", "biz s", "reply")
    widths = (25, 10, 16, 22, 8, 5, 8, 25)
    typer.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for item in reported:
        v, row = item.view, inquiry_item(item.view, item.zone)
        cells = (
            row["received_at"],
            v.mailbox,
            v.kind,
            v.customer_masked,
            v.status,
            "yes" if v.at_risk else "no",
            f"{v.business_seconds_elapsed:.0f}",
            row["first_human_reply_at"] or "-",
        )
        typer.echo("  ".join(str(c)[:w].ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply alembic migrations to the configured database."""
    from monitor.store.engine import safe_url, upgrade

    settings = _settings(config)
    upgrade(settings.monitor.database_url)
    typer.echo(f"database at head: {safe_url(settings.monitor.database_url)}")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="wallboard | auditor | admin")],
    config: ConfigOpt = None,
) -> None:
    """Print a new random token once and append its hash and role to the tokens file."""
    settings = _settings(config)
    if role not in ROLES:
        _fail(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    tokens_file = settings.api.tokens_file or Path("var/tokens")
    token = create_token(tokens_file, role)
    typer.echo(token)
    typer.echo(
        f"(hash appended to {tokens_file}; the token is not stored and cannot be shown again)", err=True
    )


@app.command()
def run(config: Annotated[Path, typer.Option("--config", "-c", help="slamon.toml")]) -> None:
    """The daemon: AMI sources, store, API and metrics."""
    from monitor.runtime import run_daemon

    settings = _settings(config)
    sys.exit(run_daemon(settings))


@app.command()
def demo(
    calls_per_hour: Annotated[float, typer.Option(help="simulated call rate")] = 240.0,
    listen: Annotated[str, typer.Option(help="API/metrics address")] = "127.0.0.1:8000",
    var: Annotated[Path, typer.Option(help="state directory")] = Path("var"),
) -> None:
    """The monitor on embedded defaults: SQLite, simulated PBX traffic, live table in the terminal."""
    from monitor.demo import run_demo

    sys.exit(run_demo(var=var, listen=listen, calls_per_hour=calls_per_hour))


@app.command()
def classify(
    files: Annotated[list[Path], typer.Argument(help="raw messages (.eml), read as bytes")],
    fmt: Annotated[str, typer.Option("--format", help="table | jsonl")] = "table",
) -> None:
    """Automatic or human: one line per message with the kind and the reasons for the decision."""
    from adapters.imap.classify import classify_bytes

    if fmt not in ("jsonl", "table"):
        _fail("--format must be jsonl or table")
    unreadable = 0
    if fmt == "table":
        typer.echo(f"{'file':<48} {'class':<6} {'kind':<13} reasons")
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            typer.echo(f"slamon: {path}: {exc.strerror or exc}", err=True)
            unreadable += 1
            continue
        result = classify_bytes(raw)
        if fmt == "jsonl":
            item = {"file": str(path), "class": result.cls, "kind": result.kind}
            typer.echo(json.dumps({**item, "reasons": list(result.reasons)}, ensure_ascii=False))
        else:
            typer.echo(f"{path.name[:48]:<48} {result.cls:<6} {result.kind:<13} {'; '.join(result.reasons)}")
    if unreadable:
        raise typer.Exit(1)


audit_app = typer.Typer(no_args_is_help=True, help="The append-only evidence chain")
app.add_typer(audit_app, name="audit")


def _chain_engine(settings: Settings) -> Any:
    """The store's engine, refused (exit 2) unless its schema is current: audit commands only read,
    so they never upgrade a database themselves."""
    from monitor.store.engine import head_revision, make_engine, safe_url, schema_revision

    engine = make_engine(settings.monitor.database_url)
    at = schema_revision(engine)
    if at != head_revision():
        engine.dispose()
        where = safe_url(settings.monitor.database_url)
        _fail(f"{where}: schema at {at or 'nothing'}, not {head_revision()}: run `slamon db upgrade` first")
    return engine


@audit_app.command("verify")
def audit_verify(
    config: ConfigOpt = None,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            help="SEQ:HASH of a head recorded earlier (an export's manifest): fail unless the chain "
            "still holds that record with that hash",
        ),
    ] = None,
) -> None:
    """Walk the evidence chain in order, recomputing every hash: exit 0 if intact, 1 naming the first
    broken record (edited, missing, reordered)."""
    from sqlalchemy.orm import Session

    from monitor.store.chain import ChainHead
    from monitor.store.chain_verify import verify_chain

    anchor = None
    if expect is not None:
        seq, _, digest = expect.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            _fail(f"--expect {expect!r}: give SEQ:HASH (the head_seq and head_hash of a manifest)")
        anchor = ChainHead(int(seq), digest.lower())
    engine = _chain_engine(_settings(config))
    try:
        with Session(engine) as session:
            report = verify_chain(session, expect=anchor)
    finally:
        engine.dispose()
    if report.broken is None:
        anchored = f"; holds seq {anchor.seq} as expected" if anchor else ""
        typer.echo(
            f"evidence chain intact: {report.records} records, head seq {report.head.seq} "
            f"sha256 {report.head.hash}{anchored}"
        )
        return
    typer.echo(f"evidence chain BROKEN at {report.broken}")
    typer.echo(f"({report.records} records before it verified)")
    raise typer.Exit(1)


@app.command("export")
def export(
    from_: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD (each site's local date)")],
    to: Annotated[str, typer.Option("--to", help="last day, included, YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", help="directory for the files (created if needed)")],
    config: ConfigOpt = None,
    site: Annotated[str | None, typer.Option(help="only this site")] = None,
) -> None:
    """Write calls.csv, inquiries.csv, breaches.csv and manifest.json (counts, checksums, policy
    versions, service-level formula and components, monitoring gaps, evidence-chain head)."""
    from datetime import date

    from monitor.service.audit_export import ExportError, export_period

    days: list[date] = []
    for option, value in (("--from", from_), ("--to", to)):
        try:
            days.append(date.fromisoformat(value))
        except ValueError:
            _fail(f"{option} {value!r} is not a date (YYYY-MM-DD)")
    settings = _settings(config)
    engine = _chain_engine(settings)
    try:
        manifest = export_period(engine, settings, days[0], days[1], out, site)
    except ExportError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    counts, head = manifest["counts"], manifest["evidence_chain"]
    typer.echo(
        f"{out}: {counts['calls']} calls, {counts['inquiries']} inquiries, {counts['breaches']} breaches, "
        f"{counts['monitoring_gaps']} monitoring gaps ({from_} to {to}); "
        f"evidence chain head seq {head['head_seq']} sha256 {head['head_hash']}"
    )


def main() -> None:  # pragma: no cover
    app()
