"""Key files beside the database: created once, readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

from andon.errors import StoreError


def create_private(path: Path, content: bytes, what: str) -> None:
    """Write ``content`` to a new file with mode 0600; never overwrite an existing key."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create the {what} {path}: {exc}") from exc
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
