"""The audit anchor outside the database: signed checkpoints compared with a copy kept
elsewhere (the append-only checkpoint log, an auditor's trusted copy of it, or one
trusted checkpoint digest).

Whoever can write the database can delete checkpoint rows, or put back an older copy of
the whole database; the checkpoints that remain then still verify among themselves. A
copy of the checkpoints outside the database closes that gap: every checkpoint it holds
must be in the database, unchanged. Log entries are hash-linked through the checkpoints'
own ``previous`` field, so an edited or reordered log breaks its own chain.

Pure: the runtime reads the files and the rows and hands them over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from andon.core.json import JsonObject, JsonValue
from andon.governance import audit
from andon.governance.checkpoints import Checkpoint, Head
from andon.governance.verification import StoredCheckpoint, checkpoint_problem


def entry(item: StoredCheckpoint) -> JsonObject:
    """One log entry: the checkpoint, its hash and signature, and the heads it signs."""
    return {
        "checkpoint": item.checkpoint.body(),
        "hash": item.stored_hash,
        "signature": item.signature,
        "heads": [h.as_json() for h in item.heads],
    }


def parse_entry(value: JsonValue) -> StoredCheckpoint:
    """A log entry back; ValueError names the field that is missing or of the wrong type."""
    if not isinstance(value, dict):
        raise ValueError("an entry is a JSON object")
    body = _object(value, "checkpoint")
    heads = value.get("heads")
    if not isinstance(heads, list):
        raise ValueError("'heads' is a list")
    cp = Checkpoint(
        _int(body, "checkpoint_id"), _number(body, "at"), _str(body, "previous"),
        _str(body, "heads_digest"), _int(body, "heads"), _str(body, "key_id"),
    )  # fmt: skip
    found = [parse_head(_as_object(h, "heads[]")) for h in heads]
    return StoredCheckpoint(cp, _str(value, "signature"), _str(value, "hash"), found)


def parse_head(h: Mapping[str, JsonValue]) -> Head:
    return Head(
        _str(h, "tenant_id"), _str(h, "chain"), _str(h, "chain_id"), _int(h, "seq"), _str(h, "hash")
    )


def verify_log(
    entries: Sequence[StoredCheckpoint], public_keys: Mapping[str, Ed25519PublicKey], source: str
) -> str | None:
    """The first entry of ``source`` that does not chain, was changed or is not signed."""
    previous = audit.GENESIS
    for expected, item in enumerate(entries, start=1):
        problem = checkpoint_problem(item, expected, previous, public_keys)
        if problem:
            return f"{source}, checkpoint {item.checkpoint.checkpoint_id}: {problem}"
        previous = item.stored_hash
    return None


def compare(
    database: Sequence[StoredCheckpoint],
    anchor: Sequence[StoredCheckpoint],
    source: str,
    *,
    complete: bool,
) -> str | None:
    """Every checkpoint of ``anchor`` must be in the database unchanged. ``complete``: the
    anchor is the live log, so the database may not hold checkpoints it lacks either."""
    stored = {item.checkpoint.checkpoint_id: item for item in database}
    for item in anchor:
        number = item.checkpoint.checkpoint_id
        found = stored.get(number)
        if found is None:
            return (
                f"the database lacks checkpoint {number} that {source} holds: it is an older "
                "copy (rolled back) or its checkpoints were deleted"
            )
        if found.stored_hash != item.stored_hash:
            return (
                f"checkpoint {number} in the database differs from {source}: the database's "
                "checkpoints were rewritten"
            )
    if complete and len(database) > len(anchor):
        return (
            f"{source} ends at checkpoint {len(anchor)} but the database has {len(database)}: "
            "the log was cut (`andon audit checkpoint` appends what is missing)"
        )
    return None


def find_digest(database: Sequence[StoredCheckpoint], digest: str) -> str | None:
    """The trusted checkpoint ``digest`` must be one of the database's checkpoints."""
    if any(item.stored_hash == digest.lower() for item in database):
        return None
    return (
        f"no checkpoint with the trusted digest {digest} in the database: it is older than "
        "the trusted checkpoint (rolled back) or its checkpoints were deleted or rewritten"
    )


def _object(value: Mapping[str, JsonValue], name: str) -> Mapping[str, JsonValue]:
    return _as_object(value.get(name), f"'{name}'")


def _as_object(value: JsonValue, name: str) -> Mapping[str, JsonValue]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} is an object")
    return value


def _str(value: Mapping[str, JsonValue], name: str) -> str:
    found = value.get(name)
    if not isinstance(found, str):
        raise ValueError(f"'{name}' is a string")
    return found


def _int(value: Mapping[str, JsonValue], name: str) -> int:
    found = value.get(name)
    if not isinstance(found, int) or isinstance(found, bool):
        raise ValueError(f"'{name}' is an integer")
    return found


def _number(value: Mapping[str, JsonValue], name: str) -> float:
    found = value.get(name)
    if not isinstance(found, int | float) or isinstance(found, bool):
        raise ValueError(f"'{name}' is a number")
    return float(found)
