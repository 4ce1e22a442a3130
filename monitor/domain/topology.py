"""What the PBX's endpoints are: advisors' desk phones or carrier trunks.

A call is a customer call when it enters from a trunk; a leg counts as "a person answered" only when
it rings a desk phone. Desk phones are recognised as short numeric endpoints (``SIP/201``) unless the
site lists its trunks or devices explicitly (``[[pbx]] trunks``/``devices``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PbxTopology:
    service_numbers: frozenset[str] = field(default_factory=frozenset)
    trunks: frozenset[str] = field(default_factory=frozenset)
    devices: frozenset[str] = field(default_factory=frozenset)
    max_extension_len: int = 6

    def is_device(self, endpoint: str) -> bool:
        if endpoint in self.devices:
            return True
        if endpoint in self.trunks or not endpoint:
            return False
        return endpoint.isdigit() and len(endpoint) <= self.max_extension_len

    def is_trunk(self, endpoint: str) -> bool:
        return bool(endpoint) and not self.is_device(endpoint)

    def is_service_number(self, dialed: str) -> bool:
        return dialed in self.service_numbers
