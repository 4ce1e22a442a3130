"""Freed heap goes back to the OS (glibc): what keeps the daemon's resident memory flat under load."""

from __future__ import annotations

import platform
from pathlib import Path

from monitor.memory import release_free_heap


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS in /proc/self/status")


def test_freed_chunks_below_a_live_one_are_returned() -> None:
    # Debian 12 is the target: glibc. Elsewhere this fails rather than skips, since the daemon's flat
    # memory under load rests on it.
    assert platform.libc_ver()[0] == "glibc", "slamon's memory figures are for glibc (Debian 12)"
    # 600-byte objects come from malloc (pymalloc serves up to 512 B); the pin, allocated last, keeps
    # the heap top in use, so glibc would never shrink the heap by itself.
    blocks = [bytes(600) + bytes([i % 256]) for i in range(100_000)]
    pin = bytes(600) + b"pin"
    before_free = rss_mb()
    del blocks
    after_free = rss_mb()
    assert before_free - after_free < 20, "glibc kept the freed chunks (what this test is about)"
    assert release_free_heap() is True
    assert after_free - rss_mb() > 30, "malloc_trim returned the ~60 MB of free chunks"
    assert pin.endswith(b"pin")
