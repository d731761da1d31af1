"""The append-only checkpoint log outside the database, and the optional HTTP witness.

One JSON line per signed checkpoint (governance/anchor.py defines the entry). The log is
written after the checkpoint's transaction commits: each time a checkpoint is taken, every
checkpoint the database holds beyond the log's last entry is appended, so a failed append
is made good by the next one. Appends hold an exclusive lock on the file, so processes
sharing a log append each checkpoint once and in order.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import httpx

from andon.errors import StoreError
from andon.governance import anchor, audit
from andon.governance.verification import StoredCheckpoint

WITNESS_TIMEOUT_S = 10.0


def read(path: Path) -> list[StoredCheckpoint]:
    """Every entry of the log (or of a trusted copy of it); a bad line is named."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise StoreError(f"cannot read the checkpoint log {path}: {exc.strerror}") from exc
    return _parse(path, text)


class CheckpointLog:
    def __init__(self, path: Path, witness_url: str = "") -> None:
        self.path = path
        self.witness_url = witness_url
        self._tail: tuple[int, int, str] | None = None
        """(file size, last number, last hash) as this process last saw the log."""

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> list[StoredCheckpoint]:
        return read(self.path)

    def extend(self, load: Callable[[int], Sequence[StoredCheckpoint]]) -> list[StoredCheckpoint]:
        """Append the database's checkpoints that the log lacks (and send each to the
        witness); refuse when they do not continue the log's chain. ``load(n)`` gives the
        database's checkpoints from number ``n`` on."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"cannot open the checkpoint log {self.path}: {exc}") from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            last_id, previous = self._last(handle)
            database = load(last_id)
            same = next((c for c in database if c.checkpoint.checkpoint_id == last_id), None)
            new = [c for c in database if c.checkpoint.checkpoint_id > last_id]
            if (same is not None and same.stored_hash != previous) or (
                new and new[0].checkpoint.previous != previous
            ):
                raise StoreError(
                    f"the database's checkpoints do not continue the checkpoint log "
                    f"{self.path} (last entry {last_id}): the database was replaced or "
                    "rolled back; `andon audit verify` says where"
                )
            for item in new:
                handle.write(json.dumps(anchor.entry(item), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            if new:
                last = new[-1]
                self._tail = (handle.tell(), last.checkpoint.checkpoint_id, last.stored_hash)
        for item in new:
            self._witness(item)
        return new

    def _last(self, handle: TextIO) -> tuple[int, str]:
        """The last entry's number and hash; read again only when the file changed size
        since this process last wrote it."""
        size = handle.seek(0, os.SEEK_END)
        if self._tail is not None and self._tail[0] == size:
            return self._tail[1], self._tail[2]
        handle.seek(0)
        logged = _parse(self.path, handle.read())
        found = (
            (logged[-1].checkpoint.checkpoint_id, logged[-1].stored_hash)
            if logged
            else (0, audit.GENESIS)
        )
        self._tail = (size, *found)
        return found

    def _witness(self, item: StoredCheckpoint) -> None:
        if not self.witness_url:
            return
        number = item.checkpoint.checkpoint_id
        try:
            response = httpx.post(
                self.witness_url, json=anchor.entry(item), timeout=WITNESS_TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            raise StoreError(
                f"the checkpoint witness {self.witness_url} did not take checkpoint {number}: {exc}"
            ) from exc
        if response.status_code >= 300:
            raise StoreError(
                f"the checkpoint witness {self.witness_url} refused checkpoint {number}: "
                f"HTTP {response.status_code}"
            )


def _parse(path: Path, text: str) -> list[StoredCheckpoint]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(anchor.parse_entry(json.loads(line)))
        except ValueError as exc:
            raise StoreError(f"checkpoint log {path} line {number}: {exc}") from exc
    return found
