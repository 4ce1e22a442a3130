"""API tokens: random bearer tokens, stored only as SHA-256 hashes with their role."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Literal

from monitor.config import warn_if_exposed

Role = Literal["wallboard", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("wallboard", "auditor", "admin")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(tokens_file: Path, role: Role) -> str:
    """Append a new token's hash to ``tokens_file`` (mode 0600) and return the token, once."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    token = "slm_" + secrets.token_urlsafe(32)
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(f"{role} {hash_token(token)}\n")
    return token


def load_tokens(tokens_file: Path | None) -> dict[str, Role]:
    """hash -> role. Malformed lines are skipped (they can never match a token)."""
    if tokens_file is None or not tokens_file.exists():
        return {}
    warn_if_exposed(tokens_file, "tokens_file")
    out: dict[str, Role] = {}
    for line in tokens_file.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ROLES and len(parts[1]) == 64:
            out[parts[1].lower()] = parts[0]
    return out


def role_of(token: str, table: dict[str, Role]) -> Role | None:
    digest = hash_token(token)
    found: Role | None = None
    for known, role in table.items():
        if hmac.compare_digest(known, digest):  # constant time per entry
            found = role
    return found
