"""The anchor's pure rules: log entries round-trip and bad ones are named; the database
must hold every anchored checkpoint unchanged, and none beyond the live log."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from andon.governance import anchor, audit, checkpoints
from andon.governance.checkpoints import Checkpoint, Head
from andon.governance.verification import StoredCheckpoint

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEYS = {checkpoints.key_id(KEY.public_key()): KEY.public_key()}


def chain(count: int) -> list[StoredCheckpoint]:
    found, previous = [], audit.GENESIS
    for number in range(1, count + 1):
        heads = [Head("t", checkpoints.RUN, f"r-{number}", 1, "a" * 64)]
        kid = checkpoints.key_id(KEY.public_key())
        cp = Checkpoint(number, 1000.0 + number, previous, checkpoints.heads_digest(heads), 1, kid)
        found.append(StoredCheckpoint(cp, checkpoints.sign(KEY, cp), cp.hash, heads))
        previous = cp.hash
    return found


def test_entries_round_trip_and_verify() -> None:
    log = [anchor.parse_entry(anchor.entry(item)) for item in chain(3)]
    assert log == chain(3)
    assert anchor.verify_log(log, KEYS, "log") is None


def test_a_bad_entry_names_the_field() -> None:
    broken = anchor.entry(chain(1)[0])
    del broken["signature"]
    with pytest.raises(ValueError, match="'signature' is a string"):
        anchor.parse_entry(broken)


def test_the_database_must_hold_the_anchor_unchanged() -> None:
    three = chain(3)
    assert anchor.compare(three, three, "log", complete=True) is None
    assert anchor.compare(three, three[:2], "copy", complete=False) is None
    assert "log ends at checkpoint 2" in str(anchor.compare(three, three[:2], "log", complete=True))
    assert "lacks checkpoint 3" in str(anchor.compare(three[:2], three, "log", complete=False))
    assert anchor.find_digest(three, three[1].stored_hash.upper()) is None
    assert "trusted digest" in str(anchor.find_digest(three[:1], three[1].stored_hash))


def test_a_reordered_log_is_broken() -> None:
    one, two, three = chain(3)
    assert "expected checkpoint 2" in str(anchor.verify_log([one, three, two], KEYS, "log"))
