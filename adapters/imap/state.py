"""Where the IMAP source remembers how far it has read each folder.

The position of a folder is ``(uidvalidity, last_uid)``: every message with a UID up to ``last_uid``
was accepted by the consumer. It is saved only after the consumer returned from ``on_messages``, so a
crash can repeat the last batch but never skip one (at-least-once; the consumer de-duplicates by
message key). A different UIDVALIDITY on the server invalidates the position (full rescan).

The SQL implementation lives with the store; the two here are for tests and single-file setups.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple, Protocol

__all__ = ["FolderPosition", "ImapStateStore", "JsonFileImapStateStore", "MemoryImapStateStore"]


class FolderPosition(NamedTuple):
    uidvalidity: int
    last_uid: int


class ImapStateStore(Protocol):
    def load(self, site: str, mailbox: str, folder: str) -> FolderPosition | None: ...

    def save(self, site: str, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None: ...


class MemoryImapStateStore:
    def __init__(self) -> None:
        self.positions: dict[tuple[str, str, str], FolderPosition] = {}

    def load(self, site: str, mailbox: str, folder: str) -> FolderPosition | None:
        return self.positions.get((site, mailbox, folder))

    def save(self, site: str, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.positions[(site, mailbox, folder)] = FolderPosition(uidvalidity, last_uid)


class JsonFileImapStateStore:
    """All positions in one small JSON file, rewritten atomically (temp file, fsync, rename) on save.

    Atomic because a crash half-way through a write must leave the previous positions readable: a
    corrupt file would force a full rescan of every folder. A lock keeps saves from worker threads
    consistent; concurrent *processes* on one file are not supported.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._positions: dict[tuple[str, str, str], FolderPosition] = {}
        if self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for row in data.get("folders", []):
                key = (str(row["site"]), str(row["mailbox"]), str(row["folder"]))
                self._positions[key] = FolderPosition(int(row["uidvalidity"]), int(row["last_uid"]))

    def load(self, site: str, mailbox: str, folder: str) -> FolderPosition | None:
        with self._lock:
            return self._positions.get((site, mailbox, folder))

    def save(self, site: str, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        with self._lock:
            self._positions[(site, mailbox, folder)] = FolderPosition(uidvalidity, last_uid)
            rows = [
                {"site": s, "mailbox": m, "folder": f, "uidvalidity": p.uidvalidity, "last_uid": p.last_uid}
                for (s, m, f), p in sorted(self._positions.items())
            ]
            self._write({"version": 1, "folders": rows})

    def _write(self, data: object) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename is durable only once the directory entry is flushed too.
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
