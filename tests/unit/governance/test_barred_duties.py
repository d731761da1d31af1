"""``duties.barred``: people named by the run's input (the author of what a promotion
approves) may not act on its tasks, in person or for someone else; a path that names
nobody bars nobody; the loader refuses paths that do not point into the input."""

from __future__ import annotations

import pytest

from andon.core.loader import load_template
from andon.core.template import DutyRules
from andon.errors import TemplateError
from andon.governance import duties
from andon.governance.identity import Actor, Grant

RULES = DutyRules(barred=("input.author", "input.change.owner"))
INPUT = {"author": "alice", "change": {"owner": "bob"}, "count": 3}


def actor(user: str) -> Actor:
    return Actor(user, "default", user.upper(), grants=(Grant("OWNER"),))


def view() -> duties.TaskView:
    barred = duties.barred_people(RULES.barred, INPUT)
    return duties.TaskView("r1", "approve", "r1:approve:1", "rita", False, barred=barred)


def test_the_people_the_input_names_are_barred_and_others_are_not() -> None:
    assert duties.barred_people(RULES.barred, INPUT) == {
        "alice": "input.author", "bob": "input.change.owner",
    }  # fmt: skip
    found = duties.judge(actor("alice"), "OWNER", "", view(), RULES)
    assert found is not None and found.rule == duties.BARRED
    assert "alice is the run's author (input.author)" in found.message
    assert duties.judge(actor("bob"), "OWNER", "", view(), RULES) is not None
    assert duties.judge(actor("otto"), "OWNER", "", view(), RULES) is None


def test_acting_for_a_barred_person_is_barred_too() -> None:
    found = duties.judge(actor("otto"), "OWNER", "alice", view(), RULES)
    assert found is not None and found.rule == duties.BARRED


def test_paths_that_name_nobody_bar_nobody() -> None:
    assert duties.barred_people(("input.count", "input.missing.x", "input.author"), {}) == {}
    assert duties.barred_people(("input.count",), INPUT) == {}


@pytest.mark.parametrize(
    ("barred", "message"),
    [
        ('"input.author"', "must be a list of input paths"),
        ("[params.owner]", "duties.barred[0]: must be an input path like input.author"),
        ("[input]", "duties.barred[0]"),
    ],
)
def test_the_loader_refuses_what_is_not_an_input_path(barred: str, message: str) -> None:
    text = f"""
id: t
version: 1
roles: [OWNER]
duties: {{barred: {barred}}}
steps:
  - {{id: approve, kind: approval, roles: [OWNER]}}
  - {{id: done, kind: end, outcome: ok}}
"""
    with pytest.raises(TemplateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_template(text, "t.yaml")
