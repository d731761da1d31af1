"""Action bindings (ADR 0030): each action step names an action the installation registers."""

from __future__ import annotations

from andon.core.bindings import check_bindings
from andon.core.loader import load_template

FLOW = """
id: buy
version: 1
steps:
  - {id: look, kind: wait, event: purchase.requested, key: "'x'"}
  - {id: budget, kind: action, action: purchase.check_budgt}
  - {id: order, kind: action, action: erp.create_purchase_order}
  - {id: done, kind: end, outcome: ordered}
"""
REGISTERED = ["purchase.check_budget", "erp.create_purchase_order", "http.request"]


def test_an_unknown_action_is_found_at_its_step_with_the_nearest_names() -> None:
    [problem] = check_bindings(load_template(FLOW), REGISTERED)
    assert problem.path == "steps[1].action"
    assert problem.message.startswith(
        "no action named 'purchase.check_budgt' is registered; "
        "did you mean 'purchase.check_budget'?"
    )


def test_registered_actions_are_bound() -> None:
    assert check_bindings(load_template(FLOW), [*REGISTERED, "purchase.check_budgt"]) == []


def test_without_a_near_name_the_registered_ones_are_listed() -> None:
    many = [f"plant.action_{n:02}" for n in range(10)]
    problems = check_bindings(load_template(FLOW), many)
    assert [p.path for p in problems] == ["steps[1].action", "steps[2].action"]
    assert "registered: plant.action_00, plant.action_01" in problems[0].message
    assert "plant.action_07 and 2 more" in problems[0].message
    [none] = check_bindings(load_template(FLOW), [])[:1]
    assert "this installation registers none" in none.message
