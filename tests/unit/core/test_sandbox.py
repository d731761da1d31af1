"""A run simulated in memory for a dry run (ADR 0033): recorded outcomes answer the steps
by id, a candidate version's own rules decide what they lead to, and the comparison names
the first fork, the decisions that changed and where each run stops."""

from __future__ import annotations

from datetime import timedelta

from scenario import T0, started, template

from andon.core import sandbox
from andon.core.dry_run import compare
from andon.core.events import Event, EventReceived, StepFailed, StepSucceeded, TaskCompleted
from andon.core.json import JsonObject
from andon.core.sandbox import Decided, Halt, Recorded, Simulation
from andon.core.template import Template

SPEND = """
id: spend
version: {version}
roles: [MGR, DIR]
input: {{type: object, properties: {{amount: {{type: number}}}}}}
triggers: [{{event: purchase.requested, key: "'k'"}}]
steps:
  - id: budget
    kind: action
    action: erp.budget
    retry: {{max_attempts: {attempts}, initial: 1s}}
    on_error: refused
  - id: level
    kind: decide
    rules:
      - {{id: l2, when: "steps.budget.output.score <= {limit}", then: {{level: 2}}, next: approve_l2}}
      - {{id: l3, when: "true", then: {{level: 3}}, next: approve_l3}}
  - {{id: approve_l2, kind: approval, roles: [MGR], next: done, {outcomes}}}
  - {{id: approve_l3, kind: approval, roles: [DIR], next: done}}
  - {{id: done, kind: end, outcome: approved}}
  - {{id: refused, kind: end, outcome: refused}}
"""
OUTCOMES = "outcomes: {approve: null, reject: refused}"
WAITS = """
id: waits
version: 1
steps:
  - {id: cool, kind: timer, duration: 1h}
  - {id: answer, kind: wait, event: lab.result, key: "'k'"}
  - {id: done, kind: end, outcome: answered}
"""
LOOP = """
id: loop
version: 1
steps:
  - {id: poll, kind: action, action: plc.read}
  - {id: pause, kind: timer, duration: 1m}
  - id: again
    kind: decide
    rules: [{id: more, when: "true", then: {}, next: poll}]
"""


def spend(version: int, limit: int = 10, attempts: int = 3, outcomes: str = OUTCOMES) -> Template:
    return template(
        SPEND.format(version=version, limit=limit, attempts=attempts, outcomes=outcomes)
    )


def run(t: Template, *facts: Event, data: JsonObject | None = None) -> Simulation:
    """Simulate ``t`` with ``facts`` recorded a minute apart."""
    recorded = Recorded((f, T0 + timedelta(minutes=i + 1)) for i, f in enumerate(facts))
    return sandbox.simulate(t, "r1", started(t, data or {}), recorded, T0)


SCORED = StepSucceeded("budget", 1, {"score": 7})
APPROVED = TaskCompleted("approve_l2", "r1:approve_l2:1", "anna", "approve", "MGR")


def test_recorded_outcomes_answer_the_action_and_the_approval() -> None:
    found = run(spend(1), SCORED, APPROVED)
    assert found.path == ("budget", "level", "approve_l2", "done")
    assert found.decisions == (Decided("level", ("l2",), {"level": 2}),)
    assert found.stop.describe() == "completed (approved)"
    assert found.skipped == ()


def test_a_changed_threshold_routes_elsewhere_where_nobody_has_decided_yet() -> None:
    old, new = run(spend(1), SCORED, APPROVED), run(spend(2, limit=5), SCORED, APPROVED)
    assert new.path == ("budget", "level", "approve_l3")
    assert new.stop.halt is Halt.WAITING and new.stop.steps == ("approve_l3",)
    assert compare(old, new) == (
        "path: after level, v1 goes approve_l2, v2 goes approve_l3",
        "decision level: l2 -> l3",
        "end: v1 completed (approved), v2 waits at approve_l3",
    )
    assert compare(old, run(spend(3), SCORED, APPROVED)) == ()
    # Both still wait where their paths end: the end adds nothing to the fork.
    undecided = compare(run(spend(1), SCORED), run(spend(2, limit=5), SCORED))
    assert undecided == (
        "path: after level, v1 goes approve_l2, v2 goes approve_l3",
        "decision level: l2 -> l3",
    )


def test_an_action_the_real_run_never_ran_is_skipped_with_an_empty_output() -> None:
    found = run(spend(1))
    assert found.skipped == ("budget",)
    # The decision reads the output the real run would have given: without it, it fails.
    assert found.stop.halt is Halt.INCIDENT and found.stop.steps == ("level",)


def test_recorded_failures_go_through_the_versions_own_retry_policy() -> None:
    failures = (StepFailed("budget", 1, "503"), StepFailed("budget", 2, "503"))
    patient = run(spend(1, attempts=3), *failures, StepSucceeded("budget", 3, {"score": 1}))
    assert patient.path[:2] == ("budget", "level")
    hasty = run(spend(2, attempts=2), *failures, StepSucceeded("budget", 3, {"score": 1}))
    assert hasty.path == ("budget", "refused")
    assert hasty.stop.describe() == "completed (refused)"
    assert compare(patient, hasty)[0] == "path: after budget, v1 goes level, v2 goes refused"


def test_a_recorded_outcome_the_candidate_does_not_offer_stops_there() -> None:
    rejected = TaskCompleted("approve_l2", "r1:approve_l2:1", "anna", "reject", "MGR")
    assert run(spend(1), SCORED, rejected).stop.describe() == "completed (refused)"
    strict = run(spend(2, outcomes="outcomes: {approve: null}"), SCORED, rejected)
    assert strict.stop.halt is Halt.WAITING
    assert "outcome 'reject' is not one of: approve" in strict.stop.detail


def test_timers_elapse_and_a_wait_stops_without_its_recorded_event() -> None:
    t = template(WAITS)
    waiting = run(t)
    assert waiting.path == ("cool", "answer")
    assert waiting.stop.describe() == "waits at answer"
    answered = run(t, EventReceived("answer", "lab.result", "k", {"ok": True}, "ev-1"))
    assert answered.path == ("cool", "answer", "done")
    assert answered.stop.describe() == "completed (answered)"


def test_a_polling_loop_stops_at_the_step_limit() -> None:
    found = run(template(LOOP))
    assert found.stop.halt is Halt.LIMIT
    assert len(found.path) == sandbox.MAX_STEPS


def test_an_event_only_one_version_takes_is_a_start_difference() -> None:
    ran = run(spend(1), SCORED, APPROVED)
    idle = sandbox.not_started("spend@2", "no trigger of spend@2 takes it")
    assert compare(ran, idle) == (
        "start: v1 starts a run, v2 does not (no trigger of spend@2 takes it)",
    )
    assert idle.to_json()["stop"] == {
        "halt": "not-started", "steps": [], "detail": "no trigger of spend@2 takes it",
        "text": "not-started: no trigger of spend@2 takes it",
    }  # fmt: skip


FORK = """
id: fork
version: 1
roles: [QE]
steps:
  - {id: fan_out, kind: parallel, branches: [quarantine, review], join: together}
  - {id: quarantine, kind: action, action: wms.quarantine, next: together}
  - {id: review, kind: approval, roles: [QE], next: together}
  - {id: together, kind: join}
  - {id: done, kind: end}
"""


def test_branches_are_answered_each_and_the_join_is_on_the_path_once() -> None:
    t = template(FORK)
    reviewed = TaskCompleted("review", "r1:review:1", "qe", "approve", "QE")
    found = run(t, reviewed, StepSucceeded("quarantine", 1, {"bin": "Q7"}))
    assert found.path == ("fan_out", "quarantine", "review", "together", "done")
    assert found.stop.describe() == "completed (completed)"
    waiting = run(t, StepSucceeded("quarantine", 1, {"bin": "Q7"}))
    assert waiting.path == ("fan_out", "quarantine", "review", "together")
    assert waiting.stop.describe() == "waits at review"
