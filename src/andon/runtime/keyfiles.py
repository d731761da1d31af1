"""Key files: created once, readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

from andon.errors import StoreError


def create_private(path: Path, content: bytes, what: str) -> None:
    """Write ``content`` to a new file with mode 0600 (a new folder gets 0700); never
    overwrite an existing key."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create the {what} {path}: {exc}") from exc
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
