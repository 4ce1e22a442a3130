"""Bulk AMI byte stream for throughput benchmarks.

Running the full simulation for every benchmark would dominate the measurement, so one block of
simulated traffic is rendered once per seed, cut into literal bytes and identifier tokens, and then
replayed as often as needed with shifted identifiers (Uniqueid/Linkedid, channel sequence numbers,
bridge ids), so every copy looks like new calls of the same PBX rather than a replay of old ones.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

from adapters.asterisk.synthetic.generator import TrafficGenerator
from adapters.asterisk.synthetic.profile import TrafficProfile

_BLOCK_CALLS = 400
_START = 1_795_500_000.0
# One alternative per identifier kind; the token is the named group, the rest anchors it cheaply.
# ("DestUniqueId" of LocalOptimizationBegin is a bridge id and is caught as a bridge.)
_TOKEN = re.compile(
    rb"(?:niqueid|inkedid|niqueID): (?P<uid>\d+\.\d+)\r"
    rb"|(?:SIP/[\w]+-|@internal-)(?P<chan>[0-9a-f]{8})"
    rb"|(?P<bridge>[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"
)


@dataclass(frozen=True)
class _Template:
    literals: tuple[bytes, ...]  # verbatim text before each token
    tail: bytes  # verbatim text after the last token
    token_ids: tuple[int, ...]  # index into `distinct` for every token position
    distinct: tuple[tuple[str, bytes], ...]  # (kind, original text)
    messages: int
    span_s: int  # simulated seconds covered by one block
    span_uid: int  # Uniqueid sequence numbers used by one block
    span_chan: int  # channel sequence numbers used by one block


@functools.lru_cache(maxsize=4)
def _template(seed: int) -> _Template:
    gen = TrafficGenerator(TrafficProfile(), seed=seed, start=_START)
    msgs = list(gen.calls(_BLOCK_CALLS))
    block = "".join(raw for _, raw in msgs).encode()
    literals: list[bytes] = []
    token_ids: list[int] = []
    index: dict[tuple[str, bytes], int] = {}
    pos = 0
    max_uid = max_chan = 0
    for m in _TOKEN.finditer(block):
        kind = m.lastgroup or ""
        text = m.group(kind)
        literals.append(block[pos : m.start(kind)])
        pos = m.end(kind)
        key = (kind, text)
        if key not in index:
            index[key] = len(index)
            if kind == "uid":
                max_uid = max(max_uid, int(text.split(b".")[1]))
            elif kind == "chan":
                max_chan = max(max_chan, int(text, 16))
        token_ids.append(index[key])
    span_s = int(msgs[-1][0] - _START) + 60
    return _Template(
        tuple(literals),
        block[pos:],
        tuple(token_ids),
        tuple(index),
        len(msgs),
        span_s,
        max_uid + 1,
        max_chan + 1,
    )


def _shift(kind: str, text: bytes, k: int, tpl: _Template) -> bytes:
    if k == 0:
        return text
    if kind == "uid":
        epoch, seq = text.split(b".")
        return b"%d.%d" % (int(epoch) + k * tpl.span_s, int(seq) + k * tpl.span_uid)
    if kind == "chan":
        return b"%08x" % ((int(text, 16) + k * tpl.span_chan) & 0xFFFFFFFF)
    # Bridge UUID: keep the version/variant nibbles, vary the node part per copy.
    node = (int(text[-12:], 16) + k * 0x9E3779B97F4A) & 0xFFFFFFFFFFFF
    return text[:-12] + b"%012x" % node


def generate_stream(n_messages: int, *, seed: int = 1) -> bytes:
    """At least ``n_messages`` complete AMI messages (CRLF, blank-line terminated), events only.

    The mix is that of ``TrafficProfile()`` traffic; calls are complete within each block.
    """
    tpl = _template(seed)
    copies = max(1, -(-n_messages // tpl.messages))
    parts: list[bytes] = []
    for k in range(copies):
        values = [_shift(kind, text, k, tpl) for kind, text in tpl.distinct]
        tokens = [values[i] for i in tpl.token_ids]
        parts.extend(itertools.chain.from_iterable(zip(tpl.literals, tokens, strict=True)))
        parts.append(tpl.tail)
    return b"".join(parts)
