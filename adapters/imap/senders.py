"""Who machines are: sender addresses, bounce subjects and system-notification wording.

Data for ``classify``; every pattern here is one that mail servers and notification systems use
in the wild. Matching is on lower-cased addr-specs and casefolded, RFC 2047-decoded subjects.
"""

from __future__ import annotations

import re

# Local parts of delivery-system senders (RFC 5321 postmaster, Sendmail/Postfix MAILER-DAEMON, ...).
BOUNCE_LOCALS = re.compile(r"^(?:mailer-daemon|mailer_daemon|maildaemon|postmaster|mail-daemon|mdaemon)$")

# Local parts of software senders that are not delivery systems.
NOREPLY_LOCALS = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|noreply[-_.+].*|.*[-_.+]no[-_.]?reply"
    r"|notifications?|notify|alerts?|automailer|auto[-_.]?mailer|mailer|system|daemon|root"
    r"|bounces?(?:[-_.+].*)?|auto[-_.]?confirm|info[-_.]?noreply)$"
)

# Challenge-response and "sender verification" services: the reply asks the sender to prove they
# are a person; it is a robot's answer to our mail, not a human reply.
CHALLENGE_DOMAINS = (
    "boxbe.com",
    "spamarrest.com",
    "mailblocks.com",
    "choicemail.com",
    "digiportal.com",
    "sendio.com",
    "bluebottle.com",
    "spamcease.com",
    "ohnospam.com",
    "mailguardian.com",
)
CHALLENGE_BODY = re.compile(
    r"add yourself to my [\w ]{0,30}(?:guest|white|safe)[ -]?list"
    r"|has been (?:wait|held|quarantin)[a-z]*ed\b.{0,80}(?:approv|verif|confirm)"
    r"|(?:please )?(?:verify|confirm) (?:that )?you are (?:a )?(?:human|real person|not a robot)"
    r"|sender not pre-approved"
    r"|i (?:use|am using) [\w ]{0,30}(?:spam|challenge)[\w ]{0,20}(?:filter|protection|system)",
    re.IGNORECASE | re.DOTALL,
)

# Non-delivery and delay reports when they arrive without a machine-readable DSN.
BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:"
    r"undeliver(?:able|ed)|undelivered mail|delivery (?:status notification|failure|has failed|failed)"
    r"|returned mail|mail delivery (?:failed|failure|system)|mail system error|failure notice"
    r"|non[- ]?remis|non recapitabile|unzustellbar|nicht zustellbar"
    r"|no se puede entregar|no entregado|não (?:foi )?entregue|mensagem não entregue"
    r"|onbestelbaar|niedostarczon|nie dostarczon"
    r"|warning: could not send|delayed mail|delivery delayed|message delayed"
    r"|ваше сообщение не доставлено|не доставлено|недоставленное"
    r"|配信不能|配信エラー|未送達|退信|无法投递|邮件投递失败|系统退信"
    r"|email bounce notification|.*\bbounce(?:d)? (?:notification|message)"
    r")",
    re.IGNORECASE,
)

# System notifications: monitoring, scanners, backups, schedulers. Only used together with another
# machine signal or the absence of a From header, never alone (people write "backup failed" too).
NOTIFICATION_SUBJECT = re.compile(
    r"\bsuccessfully (?:updated|completed|installed|finished)\b|\b(?:scan|signature) engine\b"
    r"|\bbackup (?:job )?(?:completed|succeeded|failed)\b|\bjob (?:completed|succeeded|failed)\b"
    r"|\[(?:alert|warning|critical|notification)\]|\bcron\b|\bdaily (?:report|digest)\b"
    r"|\bpassword (?:reset|expir)|\bverification code\b|\bsecurity alert\b",
    re.IGNORECASE,
)

# Bulk-mail platforms' tracking headers: marketing, delivered to a list even without List-*.
MARKETING_HEADERS = (
    "x-campaignid",
    "x-campaign-id",
    "x-mailchimp-campaign",
    "x-mc-user",
    "x-sfmc-stack",
    "x-sg-eid",
    "x-mailgun-campaign-id",
    "x-mandrill-user",
    "x-ses-outgoing",
    "x-batchid",
    "x-infapp",
    "feedback-id",
    "x-rpcampaign",
    "x-listmember",
)

# RFC 2369 / 2919 list headers; any one means the message came through a list.
LIST_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "list-post",
    "list-help",
    "list-subscribe",
    "list-owner",
    "list-archive",
    "mailing-list",
    "x-mailing-list",
    "x-list",
)

# Envelope senders of list servers (owner-foo@, foo-owner@, foo-request@, foo-bounces@).
LIST_ENVELOPE = re.compile(r"^(?:owner-.+|.+-owner(?:-.*)?|.+-request|.+-bounces?(?:\+.*)?)@")


def local_part(address: str) -> str:
    return address.rpartition("@")[0]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def in_domains(address: str, domains: tuple[str, ...] | frozenset[str]) -> str | None:
    """The listed domain the address belongs to (exact or a subdomain of it), or None."""
    domain = domain_of(address)
    for candidate in domains:
        candidate = candidate.lower().lstrip("@")
        if domain == candidate or domain.endswith("." + candidate):
            return candidate
    return None
