"""Configuration: ``slamon.toml`` validated by pydantic; secrets only from files or environment.

Secrets are never values in the TOML file: ``*_file`` keys point at files, or environment variables
(``SLAMON_HMAC_KEY``, ``SLAMON_AMI_SECRET`` / ``SLAMON_AMI_SECRET_<SITE>``, ``SLAMON_IMAP_PASSWORD`` /
``SLAMON_IMAP_PASSWORD_<SITE>``) provide them. They are held as ``SecretStr`` so a repr or a
validation error never shows them.

``[api]`` request limits (docs/security.md), defaults shown::

    [api]
    tokens_file = "/etc/slamon/tokens"
    max_body_bytes = 65536     # a larger request body (declared or streamed): 413
    max_url_bytes = 8192       # a longer path + query string: 414
    max_header_bytes = 16384   # headers beyond this: 431 (400 from uvicorn/h11 while still arriving)

``[monitor] listen`` defaults to loopback; any other address logs a warning at every start (the API
is then reachable from the network and only the tokens protect it).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.domain.cadence import ring_cycle_seconds
from monitor.domain.calendar import WEEKDAYS, BusinessCalendar
from monitor.domain.policy import SlaPolicy
from monitor.domain.topology import PbxTopology

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    pass


def warn_if_exposed(path: Path, what: str) -> None:
    """A secret file other users may read (or a tokens file they may write: adding a token) is
    worth a warning, not a refusal: the operator may have reasons (a group for a sidecar)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s %s is accessible to other users (mode %o): chmod 600 it", what, path, mode & 0o777)


class _Strict(BaseModel):
    # hide_input_in_errors: a ValidationError's text would otherwise quote the input, and a model
    # validator's input is the whole section (a database URL with its password, say).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class PolicySettings(_Strict):
    answer_within_rings: int = Field(3, ge=1, le=20)
    max_hold_s: float = Field(30.0, gt=0)
    first_reply_business_s: float = Field(3600.0, gt=0)
    acknowledge_business_days: float = Field(2.0, gt=0)
    # Reporting only (the service-level formula of /api/v1/sla/summary): a caller who hangs up unanswered
    # within this many seconds of arriving is a short abandon, left out of the denominator. Compared in
    # whole seconds (the wait rounded up; a fraction here is dropped), at most 120 (the call rollup keeps
    # waits to the second up to there). Not part of the evaluated policy: changing it changes no policy
    # version and no stored evaluation, and applies to past periods as well.
    short_abandon_s: float = Field(5.0, ge=0, le=120)
    version: str | None = None

    def to_domain(self) -> SlaPolicy:
        return SlaPolicy(
            self.answer_within_rings,
            self.max_hold_s,
            self.first_reply_business_s,
            self.acknowledge_business_days,
            self.version or "",
        ).with_version()


class MonitorSettings(_Strict):
    database_url: str = "sqlite:///var/slamon.db"
    listen: str = "127.0.0.1:8000"
    hmac_key_file: Path | None = None
    stale_call_after_s: float = Field(4 * 3600.0, gt=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("listen must be HOST:PORT")
        return value

    def __repr_args__(self) -> Any:
        # The database URL may carry a password: repr/str (and so tracebacks and debug logs) mask it.
        for name, value in super().__repr_args__():
            yield name, (mask_url_password(value) if name == "database_url" else value)


def mask_url_password(url: str) -> str:
    """``scheme://user:***@host/...``: the form of a database URL that may be shown."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{host}{slash}{path}"


class ApiSettings(_Strict):
    tokens_file: Path | None = None
    # Request limits (monitor/api/limits.py): the API only serves small GETs, so anything bigger is
    # refused before a route sees it.
    max_body_bytes: int = Field(64 * 1024, ge=0, le=64 << 20)
    max_url_bytes: int = Field(8 * 1024, ge=256, le=1 << 20)
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1 << 20)


class SiteSettings(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    timezone: str = "UTC"
    country: str | None = None
    subdivision: str | None = None
    ring_cadence: str | float = "US"
    hours: dict[str, list[str]] = Field(default_factory=lambda: {d: ["00:00-24:00"] for d in WEEKDAYS})
    closures: list[date] = Field(default_factory=list)
    policy: PolicySettings | None = None

    @model_validator(mode="after")
    def _check(self) -> SiteSettings:
        ring_cycle_seconds(self.ring_cadence)
        self.calendar()
        return self

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.build(
            timezone=self.timezone,
            hours=self.hours,
            country=self.country,
            subdivision=self.subdivision,
            closures=self.closures,
        )


def _site_env(prefix: str, site: str) -> str | None:
    return os.environ.get(f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', site).upper()}") or os.environ.get(prefix)


def _read_secret(path: Path | None, env_prefix: str, site: str, what: str) -> SecretStr:
    if path is not None:
        try:
            from_file = SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"cannot read {what} file {path}: {exc.strerror}") from None
        warn_if_exposed(path, f"{what} file")
        return from_file
    value = _site_env(env_prefix, site)
    if value:
        return SecretStr(value)
    raise ConfigError(
        f"no {what} for site {site!r}: set a *_file key or the {env_prefix} environment variable"
    )


class PbxSettings(_Strict):
    site: str
    host: str
    port: int = Field(5038, ge=1, le=65535)
    username: str
    secret_file: Path | None = None
    service_numbers: list[str] = Field(default_factory=list)
    trunks: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    ping_interval_s: float = Field(10.0, gt=0)
    action_timeout_s: float = Field(10.0, gt=0)

    def secret(self) -> SecretStr:
        return _read_secret(self.secret_file, "SLAMON_AMI_SECRET", self.site, "AMI secret")

    def topology(self) -> PbxTopology:
        return PbxTopology(frozenset(self.service_numbers), frozenset(self.trunks), frozenset(self.devices))


class KindRuleSettings(_Strict):
    """Mail from ``sender`` (an address, or ``@domain``) opens inquiries of ``kind``."""

    sender: str
    kind: Literal["internet_inquiry", "written"]


class MailboxSettings(_Strict):
    site: str
    host: str
    port: int = Field(993, ge=1, le=65535)
    tls: Literal["imaps", "starttls", "none"] = "imaps"
    username: str
    password_file: Path | None = None
    inbox: str = "INBOX"
    sent: str | None = None
    extra_folders: list[str] = Field(default_factory=list)
    dealer_domains: list[str] = Field(default_factory=list)
    dealer_addresses: list[str] = Field(default_factory=list)
    kind: Literal["internet_inquiry", "written"] = "internet_inquiry"
    kind_rules: list[KindRuleSettings] = Field(default_factory=list)
    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    ca_file: Path | None = None
    poll_interval_s: float = Field(30.0, gt=0)

    @property
    def label(self) -> str:
        """The mailbox's name in metrics and reports: ``name``, else the local part of the account
        (a role account such as ``service``), never a full address."""
        if self.name:
            return self.name
        local = self.username.partition("@")[0].lower()
        return re.sub(r"[^a-z0-9_-]", "-", local)[:63] or "mailbox"

    def password(self) -> SecretStr:
        return _read_secret(self.password_file, "SLAMON_IMAP_PASSWORD", self.site, "IMAP password")


class Settings(_Strict):
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    site: list[SiteSettings] = Field(default_factory=list)
    pbx: list[PbxSettings] = Field(default_factory=list)
    mailbox: list[MailboxSettings] = Field(default_factory=list)
    policy: PolicySettings = Field(default_factory=PolicySettings)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        ids = [s.id for s in self.site]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate site ids in {ids}")
        for kind, refs in (("pbx", [p.site for p in self.pbx]), ("mailbox", [m.site for m in self.mailbox])):
            for ref in refs:
                if ref not in ids:
                    raise ValueError(f"{kind} refers to unknown site {ref!r}")
        return self

    def site_by_id(self, site_id: str) -> SiteSettings:
        for site in self.site:
            if site.id == site_id:
                return site
        raise ConfigError(f"unknown site {site_id!r}")

    def policy_for(self, site_id: str) -> SlaPolicy:
        """Site overrides merge over the global policy; the version names the effective policy."""
        site = self.site_by_id(site_id)
        if site.policy is None:
            return self.policy.to_domain()
        merged = {**self.policy.model_dump(), **site.policy.model_dump(exclude_unset=True)}
        if "version" not in site.policy.model_fields_set:
            merged["version"] = None
        return PolicySettings(**merged).to_domain()

    def short_abandon_s(self, site_id: str) -> float:
        """The site's short-abandon threshold (its override, else the global one; unknown site: global)."""
        site = next((s for s in self.site if s.id == site_id), None)
        if site is not None and site.policy is not None and "short_abandon_s" in site.policy.model_fields_set:
            return site.policy.short_abandon_s
        return self.policy.short_abandon_s

    def hmac_key(self) -> bytes:
        path = self.monitor.hmac_key_file
        if path is not None:
            try:
                key = path.read_bytes().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read hmac_key_file {path}: {exc.strerror}") from None
            warn_if_exposed(path, "hmac_key_file")
        else:
            key = os.environ.get("SLAMON_HMAC_KEY", "").encode()
        if len(key) < 16:
            raise ConfigError("HMAC key missing or shorter than 16 bytes (hmac_key_file or SLAMON_HMAC_KEY)")
        return key


def load_settings(path: Path | str | None) -> Settings:
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(f"{path or 'config'}: " + "; ".join(lines)) from None


def open_24_7_site(site_id: str = "default", cadence: str | float = "US") -> SiteSettings:
    return SiteSettings(id=site_id, ring_cadence=cadence)
