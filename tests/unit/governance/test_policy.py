"""The pure governance modules without a database: verdicts and their reasons, retention
verdicts, checkpoint signatures and signature binding."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from andon.governance import authz, checkpoints, retention, signatures
from andon.governance.authz import Permission
from andon.governance.checkpoints import Checkpoint, Head
from andon.governance.identity import Actor, Grant

QE_AT_STR = Actor("anna", "t1", "Anna", grants=(Grant("QE", "DE-STR"),))
OWNER = Actor("olaf", "t1", "Olaf", grants=(Grant(authz.PROCESS_OWNER),))


def test_a_verdict_names_the_grant_that_allowed_it() -> None:
    verdict = authz.authorize(QE_AT_STR, Permission.TASK_DECIDE, "DE-STR")
    assert verdict and "QE@DE-STR" in verdict.reason


def test_a_refusal_names_where_and_which_roles_would_allow_it() -> None:
    verdict = authz.authorize(QE_AT_STR, Permission.TASK_DECIDE, "US-GRR")
    assert not verdict
    assert "anna may not task.decide in site US-GRR" in verdict.reason
    assert "any domain role" in verdict.reason
    refused = authz.authorize(QE_AT_STR, Permission.USERS_MANAGE)
    assert "tenant t1" in refused.reason and "tenant-admin" in refused.reason


def test_administrative_roles_never_decide_tasks() -> None:
    assert not authz.authorize(OWNER, Permission.TASK_DECIDE)
    assert authz.authorize(OWNER, Permission.TEMPLATE_PUBLISH)


def test_readable_sites_follow_the_grants() -> None:
    assert authz.readable_sites(QE_AT_STR, Permission.RUN_READ) == frozenset({"DE-STR"})
    assert authz.readable_sites(OWNER, Permission.RUN_READ) is None
    assert authz.readable_sites(OWNER, Permission.TASK_CLAIM) == frozenset()


def test_retention_keeps_young_held_and_unknown_class_records() -> None:
    day = retention.DAY_S
    hold = retention.Hold("h1", "", "batch", "recall")
    args = ("r1", "maint", "maintenance")
    assert retention.purge_verdict(*args, None, 0, {}, []) == "the run has not ended"
    assert "kept for 1096 days" in str(retention.purge_verdict(*args, 0.0, 10 * day, {}, []))
    assert retention.purge_verdict(*args, 0.0, 10 * day, {"maintenance": 5}, []) is None
    assert "legal hold h1" in str(
        retention.purge_verdict("r2", "batch", "maintenance", 0.0, 9e9, {}, [hold])
    )
    assert "unknown" in str(retention.purge_verdict("r3", "x", "secret-class", 0.0, 9e9, {}, []))


def test_a_checkpoint_signature_fails_on_any_change() -> None:
    key = Ed25519PrivateKey.generate()
    heads = [Head("t1", checkpoints.RUN, "r1", 3, "a" * 64)]
    cp = Checkpoint(1, 100.0, "0" * 64, checkpoints.heads_digest(heads), 1, "k")
    signed = checkpoints.sign(key, cp)
    assert checkpoints.signature_valid(key.public_key(), cp, signed)
    moved = Checkpoint(1, 100.0, "0" * 64, checkpoints.heads_digest([]), 1, "k")
    assert not checkpoints.signature_valid(key.public_key(), moved, signed)
    other = Ed25519PrivateKey.generate().public_key()
    assert not checkpoints.signature_valid(other, cp, signed)
    assert not checkpoints.signature_valid(key.public_key(), cp, "not base64!")


def test_a_signature_belongs_to_one_place_in_one_record() -> None:
    record = signatures.SignedRecord(
        "r1", "r1:release:1", "release", "approve", "release", "in spec", "qa1", "Q. A.",
        "2026-11-26T10:00:00+00:00", "password", "f" * 64,
    )  # fmt: skip
    manifest = signatures.manifest(record)
    here = {
        "run_id": "r1", "task_id": "r1:release:1", "step": "release", "outcome": "approve",
        "signer": "qa1", "follows": "f" * 64,
    }  # fmt: skip
    assert signatures.check(manifest, **here) is None
    assert "run_id 'r1', not 'r2'" in str(signatures.check(manifest, **{**here, "run_id": "r2"}))
    assert "follows" in str(signatures.check(manifest, **{**here, "follows": "e" * 64}))
    forged = {**manifest, "meaning": "review"}
    assert "digest does not match" in str(signatures.check(forged, **here))
