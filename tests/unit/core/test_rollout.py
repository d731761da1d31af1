"""What is in force, folded from rollout records: a stack per plant, the record for every
plant as the fallback, rollbacks taking the top off."""

from __future__ import annotations

import pytest

from andon.core import rollout
from andon.core.rollout import EVERY_PLANT, Act, Record
from andon.errors import ConflictError, InputError

STAGES = rollout.DEFAULT_STAGES


def rec(seq: int, plant: str, version: int | None, act: Act = Act.PROMOTED) -> Record:
    return Record(seq, "ncr", "production", plant, version, None, act, float(seq), "u")


HISTORY = [rec(1, EVERY_PLANT, 1), rec(2, "P1", 2), rec(3, "P1", 3)]


def test_a_plant_follows_every_plant_until_it_has_its_own_record() -> None:
    assert rollout.in_force(HISTORY, "P1") == HISTORY[2]
    assert rollout.in_force(HISTORY, "P2") == HISTORY[0]
    assert rollout.in_force([], "P2") is None


def test_a_rollback_takes_the_top_record_off() -> None:
    back = rollout.after_rollback(HISTORY, "ncr", "production", "P1")
    assert back == HISTORY[1]
    history = [*HISTORY, rec(4, "P1", 2, Act.ROLLED_BACK)]
    assert rollout.in_force(history, "P1") == HISTORY[1]
    assert rollout.after_rollback(history, "ncr", "production", "P1") is None  # follows ""
    history.append(rec(5, "P1", None, Act.ROLLED_BACK))
    assert rollout.in_force(history, "P1") == HISTORY[0]
    with pytest.raises(ConflictError, match="nothing of ncr"):
        rollout.after_rollback(history, "ncr", "production", "P1")
    with pytest.raises(ConflictError, match=r"no earlier version .* every plant"):
        rollout.after_rollback(history, "ncr", "production", EVERY_PLANT)


def test_a_version_enters_a_stage_after_the_one_before_it() -> None:
    test = [Record(1, "ncr", "test", "P1", 2, None, Act.PROMOTED, 0.0, "u")]
    rollout.check_order("ncr", 2, STAGES, "production", test, HISTORY)
    rollout.check_order("ncr", 3, STAGES, "production", [], HISTORY)  # widens a rollout
    rollout.check_order("ncr", 9, STAGES, "dev", [], [])  # the first stage takes any
    with pytest.raises(ConflictError, match="ncr@4 is not in force at stage 'test'"):
        rollout.check_order("ncr", 4, STAGES, "production", test, HISTORY)


def test_stage_lists_are_checked() -> None:
    assert rollout.check_stages([" dev", "prod"]) == ("dev", "prod")
    for bad, message in (([], "name 1 to"), (["Dev"], "lower-case"), (["a", "a"], "repeated")):
        with pytest.raises(InputError, match=message):
            rollout.check_stages(bad)
    with pytest.raises(InputError, match=r"unknown stage 'qa' .*dev, test, production"):
        rollout.stage_index(STAGES, "qa")
