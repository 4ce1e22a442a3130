"""Host names as the security rules see them (the API's bind warning, plain IMAP's loopback rule)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for a loopback IP literal or the name ``localhost``. No DNS lookup: a name that merely
    resolves to 127.0.0.1 today is not trusted to keep doing so; a wildcard (``0.0.0.0``, ``::``) is
    not loopback."""
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
