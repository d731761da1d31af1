"""Publishing refuses action steps that name no registered action (ADR 0030): the error
names the file, the line of the step's ``action`` and the nearest registered names, and
nothing is stored."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from andon import bootstrap
from andon.errors import NotFoundError, TemplateError
from andon.tools.demo import publish_reference
from andon.tools.demo.actions import DemoActions

FLOW = """\
id: buy
version: 1
steps:
  - id: budget
    kind: action
    action: purchase.check_budgt
  - id: done
    kind: end
    outcome: ordered
"""


def test_an_unregistered_action_is_refused_with_its_file_and_line(app: bootstrap.App) -> None:
    app.actions.register("purchase.check_budget", lambda call: {"ok": True})
    admin = app.actor()

    with pytest.raises(TemplateError) as refused:
        app.service.publish_template(admin, FLOW, "buy.yaml")

    [problem] = refused.value.problems
    assert (problem.source, problem.line, problem.path) == ("buy.yaml", 6, "steps[0].action")
    assert str(problem).startswith(
        "buy.yaml:6 steps[0].action: no action named 'purchase.check_budgt' is registered; "
        "did you mean 'purchase.check_budget'?"
    )
    with pytest.raises(NotFoundError):
        app.service.template(admin, "buy", 1)


def test_a_registered_action_publishes(app: bootstrap.App) -> None:
    app.actions.register("purchase.check_budgt", lambda call: {"ok": True})

    published = app.service.publish_template(app.actor(), FLOW, "buy.yaml")

    assert app.service.template(app.actor(), "buy", 1).digest == published.digest


def test_the_reference_templates_publish_with_the_demos_actions(app: bootstrap.App) -> None:
    DemoActions(0, app.service.clock).register(app.actions)
    said = io.StringIO()

    versions = publish_reference(app.service, app.actor(), Console(file=said, width=200))

    assert versions == {"supplier-ncr": 1, "purchase-requisition": 1}
    assert "skipped" not in said.getvalue()  # batch-release and maintenance published too
    published = {t.template_id for t in app.service.published_templates(app.actor())}
    assert {"batch-release", "maintenance-escalation"} <= published
