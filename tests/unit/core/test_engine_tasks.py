"""The pure engine, continued: approvals, waits for outside events, and parallel branches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from scenario import T0, drive, drive_both, start, started, step, template

from andon.core import engine
from andon.core.commands import (
    AwaitEvent,
    CancelTimer,
    CloseTask,
    CompleteRun,
    EscalateTask,
    OpenTask,
    RunAction,
    StartTimer,
    StopAwaiting,
)
from andon.core.events import (
    Event,
    EventReceived,
    IncidentRetried,
    StepFailed,
    StepSucceeded,
    TaskCompleted,
    TimerFired,
)
from andon.core.json import JsonObject
from andon.core.run import RunStatus, StepStatus
from andon.core.template import Template
from andon.errors import ConflictError, InputError

# ---- approvals -----------------------------------------------------------------------------

APPROVAL = """
    id: approval-demo
    version: 1
    roles: [QE, PS, QAM, QA]
    parameters:
      boss: {type: role, default: QAM}
      sla: {type: duration, default: 2d}
    steps:
      - id: sign
        kind: approval
        title: Sign off the deviation
        roles: [QE, PS]
        quorum: {quorum}
        due_in: $sla
        escalate:
          - {after: 1d, to: $boss}
          - {after: 36h, to: QA}
        outcomes:
          approve: approved
          reject: rejected
          rework: reworked
        {on_timeout}
      - id: approved
        kind: end
        outcome: approved
      - id: rejected
        kind: end
        outcome: rejected
      - id: reworked
        kind: end
        outcome: reworked
      - id: lapsed
        kind: end
        outcome: lapsed
"""
TASK = "r1:sign:1"
TIMERS = ("timeout:sign:1", "escalate:sign:1:1", "escalate:sign:1:2")


def approval_template(quorum: str = "all", *, on_timeout: bool = True) -> Template:
    text = APPROVAL.replace("{quorum}", quorum)
    if on_timeout:
        text = text.replace("{on_timeout}", "on_timeout: lapsed")
    else:  # keep 'lapsed' reachable so the template stays valid
        text = text.replace("{on_timeout}", "on_error: lapsed")
    return template(text, "approval-demo.yaml")


def approve(actor: str, role: str = "", outcome: str = "approve") -> TaskCompleted:
    return TaskCompleted("sign", TASK, actor, outcome, role)


def closing_commands(outcome: str, run_outcome: str) -> tuple[object, ...]:
    return (
        CloseTask(TASK, outcome),
        *(CancelTimer(k) for k in TIMERS),
        CompleteRun("completed", run_outcome),
    )


def test_approval_opens_a_task_with_due_and_escalation_timers() -> None:
    t = approval_template()

    d = start(t)

    assert d.commands == (
        OpenTask("sign", TASK, "Sign off the deviation", ("QE", "PS"), "all", T0 + timedelta(2)),
        StartTimer("timeout:sign:1", T0 + timedelta(days=2)),
        StartTimer("escalate:sign:1:1", T0 + timedelta(days=1)),
        StartTimer("escalate:sign:1:2", T0 + timedelta(hours=36)),
    )
    state = d.run.step("sign")
    assert state.status is StepStatus.WAITING
    assert state.detail["task_id"] == TASK


def test_quorum_any_closes_on_the_first_approval() -> None:
    t = approval_template("any")

    s = drive_both(t, [started(t), approve("alice", "QE")])

    assert s.last.commands == closing_commands("approve", "approved")
    assert s.run.step("sign").output == {"outcome": "approve", "approvers": ["alice"]}


def test_quorum_all_waits_for_every_role() -> None:
    t = approval_template("all")

    s = drive_both(
        t, [started(t), approve("alice", "QE"), approve("amir", "QE"), approve("bob", "PS")]
    )

    assert s.decisions[1].commands == ()
    assert s.decisions[2].commands == ()  # a second QE does not stand in for PS
    assert s.last.commands == closing_commands("approve", "approved")
    assert s.run.step("sign").output == {
        "outcome": "approve",
        "approvers": ["alice", "amir", "bob"],
    }


def test_quorum_all_without_roles_counts_one_actor_per_role() -> None:
    t = approval_template("all")

    s = drive(t, [started(t), approve("alice"), approve("bob")])

    assert s.decisions[1].commands == ()
    assert s.run.outcome == "approved"


def test_quorum_count_needs_distinct_actors() -> None:
    t = approval_template("2")

    s = drive(t, [started(t), approve("alice", "QE")])
    assert s.last.commands == ()
    assert s.run.step("sign").detail["quorum"] == 2

    with pytest.raises(ConflictError, match="alice has already decided"):
        step(t, s.run, approve("alice", "PS"))

    done = step(t, s.run, approve("carol", "QE"))
    assert done.run.outcome == "approved"


def test_deciding_twice_is_a_conflict_even_with_another_outcome() -> None:
    t = approval_template("all")
    run = drive(t, [started(t), approve("alice", "QE")]).run

    with pytest.raises(ConflictError):
        step(t, run, approve("alice", "QE", "reject"))


def test_unknown_outcome_is_an_input_error() -> None:
    t = approval_template()
    run = start(t).run

    with pytest.raises(InputError, match="'maybe' is not one of: approve, reject, rework"):
        step(t, run, approve("alice", "QE", "maybe"))


def test_deciding_a_task_that_is_not_open_is_a_conflict() -> None:
    t = approval_template("any")
    run = start(t).run

    with pytest.raises(ConflictError, match="task r1:sign:9 is not open"):
        step(t, run, TaskCompleted("sign", "r1:sign:9", "bob", "approve", "PS"))
    with pytest.raises(ConflictError, match="is not open"):
        step(t, run, TaskCompleted("approved", TASK, "bob", "approve", "PS"))


def test_deciding_after_the_run_ended_is_not_accepted() -> None:
    t = approval_template("any")
    run = drive(t, [started(t), approve("alice", "QE")]).run

    d = step(t, run, approve("bob", "PS"))

    assert (d.accepted, d.run, d.commands) == (False, run, ())


@pytest.mark.parametrize(("outcome", "end"), [("reject", "rejected"), ("rework", "reworked")])
def test_any_other_outcome_closes_at_once_and_routes(outcome: str, end: str) -> None:
    t = approval_template("all")

    s = drive_both(t, [started(t), approve("alice", "QE"), approve("bob", "PS", outcome)])

    assert s.last.commands == closing_commands(outcome, end)
    assert s.run.step("sign").output == {"outcome": outcome, "approvers": ["alice", "bob"]}


def test_due_timeout_closes_the_task_as_timeout_and_routes_to_on_timeout() -> None:
    t = approval_template()

    s = drive_both(t, [started(t), (timedelta(days=2), TimerFired("timeout:sign:1"))])

    assert s.last.commands == closing_commands("timeout", "lapsed")
    assert s.run.step("sign").output == {"outcome": "timeout", "approvers": []}
    assert s.run.ended_at == T0 + timedelta(days=2)


def test_due_timeout_without_on_timeout_marks_the_task_overdue() -> None:
    t = approval_template(on_timeout=False)

    s = drive(t, [started(t), TimerFired("timeout:sign:1")])

    assert s.last.accepted is True
    assert s.last.commands == ()
    assert s.run.step("sign").status is StepStatus.WAITING
    assert s.run.step("sign").detail["overdue"] is True
    assert step(t, s.run, approve("alice")).run.status is RunStatus.RUNNING  # still decidable


def test_escalation_timers_escalate_to_the_resolved_roles() -> None:
    t = approval_template()

    s = drive_both(
        t,
        [
            started(t, boss="QA"),
            (timedelta(days=1), TimerFired("escalate:sign:1:1")),
            (timedelta(hours=36), TimerFired("escalate:sign:1:2")),
        ],
    )

    assert s.decisions[1].commands == (EscalateTask("sign", TASK, "QA", 1),)
    assert s.decisions[2].commands == (EscalateTask("sign", TASK, "QA", 2),)
    assert s.run.step("sign").detail["level"] == 2
    assert s.run.step("sign").detail["escalated_to"] == ["QA"]


def test_escalation_uses_the_parameter_default_role() -> None:
    t = approval_template()

    s = drive(t, [started(t), TimerFired("escalate:sign:1:1"), TimerFired("escalate:sign:1:2")])

    assert [c for d in s.decisions[1:] for c in d.commands] == [
        EscalateTask("sign", TASK, "QAM", 1),
        EscalateTask("sign", TASK, "QA", 2),
    ]
    assert s.run.step("sign").detail["escalated_to"] == ["QAM", "QA"]


def test_timers_of_a_closed_approval_are_stale() -> None:
    t = approval_template("any")
    run = drive(t, [started(t), approve("alice", "QE")]).run

    for key in TIMERS:
        d = step(t, run, TimerFired(key), timedelta(days=3))
        assert (d.accepted, d.run, d.commands) == (False, run, ())


ROLES_FROM = """
    id: roles-from
    version: 1
    roles: [QE, PS, FC]
    input:
      type: object
      properties:
        signers: {type: array, items: {type: string}}
        needed: {type: integer}
    steps:
      - id: sign
        kind: approval
        roles: [QE]
        roles_from: input.signers
        quorum_from: input.needed
      - id: done
        kind: end
"""


def test_roles_and_quorum_can_come_from_the_run() -> None:
    t = template(ROLES_FROM)

    d = start(t, {"signers": ["PS", "QE", "FC"], "needed": 2})

    opened = d.commands[0]
    assert isinstance(opened, OpenTask)
    assert (opened.roles, opened.quorum) == (("QE", "PS", "FC"), "2")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"signers": "PS", "needed": 1}, "not a list of role names"),
        ({"signers": [], "needed": 0}, "not 'any', 'all' or a count"),
    ],
)
def test_bad_roles_or_quorum_from_the_run_are_an_incident(
    data: dict[str, object], error: str
) -> None:
    t = template(ROLES_FROM)

    d = start(t, data)  # type: ignore[arg-type]

    assert d.run.status is RunStatus.INCIDENT
    assert error in str(d.run.step("sign").error)


# ---- waits ---------------------------------------------------------------------------------

WAIT = """
    id: wait-demo
    version: 1
    input:
      type: object
      properties:
        lot: {type: string}
        qty: {type: integer}
    steps:
      - id: await_lab
        kind: wait
        event: lab.result_posted
        key: "'LAB-' + input.lot"
        timeout: 4h
        on_timeout: chase
      - id: await_count
        kind: wait
        event: wms.counted
        key: input.qty
      - id: done
        kind: end
        outcome: received
      - id: chase
        kind: end
        outcome: chased
"""


def test_wait_awaits_the_evaluated_key_with_a_timeout() -> None:
    t = template(WAIT)

    d = start(t, {"lot": "L-7", "qty": 3})

    four_hours = T0 + timedelta(hours=4)
    assert d.commands == (
        AwaitEvent("await_lab", "lab.result_posted", "LAB-L-7", four_hours, since=T0),
        StartTimer("timeout:await_lab:1", four_hours),
    )
    assert d.run.step("await_lab").detail == {"key": "LAB-L-7"}


def test_a_wait_takes_events_from_the_run_start_or_its_lookback_before() -> None:
    t = template(WAIT.replace("key: input.qty", "key: input.qty\n        lookback: 2h"))

    s = drive_both(
        t,
        [
            started(t, {"lot": "L-7", "qty": 3}),
            (timedelta(hours=1), EventReceived("await_lab", "lab.result_posted", "LAB-L-7")),
        ],
    )

    assert s.decisions[0].commands[0].since == T0  # type: ignore[union-attr]
    assert s.last.commands[-1] == AwaitEvent(
        "await_count", "wms.counted", "3", None, since=T0 - timedelta(hours=2)
    )


def test_received_event_becomes_the_output_and_stops_waiting() -> None:
    t = template(WAIT)
    result: JsonObject = {"hardness": 58.5, "pass": True}

    s = drive_both(
        t,
        [
            started(t, {"lot": "L-7", "qty": 3}),
            EventReceived("await_lab", "lab.result_posted", "LAB-L-7", result, "ev-1"),
            EventReceived("await_count", "wms.counted", "3", {"counted": 3}),
        ],
    )

    assert s.decisions[1].commands == (
        StopAwaiting("await_lab"),
        CancelTimer("timeout:await_lab:1"),
        AwaitEvent("await_count", "wms.counted", "3", None, since=T0),  # keys are strings
    )
    assert s.run.step("await_lab").output == result
    assert s.last.commands == (StopAwaiting("await_count"), CompleteRun("completed", "received"))


def test_wait_timeout_follows_on_timeout() -> None:
    t = template(WAIT)

    s = drive_both(
        t,
        [
            started(t, {"lot": "L-7", "qty": 3}),
            (timedelta(hours=4), TimerFired("timeout:await_lab:1")),
        ],
    )

    assert s.last.commands == (StopAwaiting("await_lab"), CompleteRun("completed", "chased"))
    assert s.run.step("await_lab").detail == {"key": "LAB-L-7", "timed_out": True}
    assert s.run.step("await_lab").output is None


def test_events_of_another_type_or_for_a_step_not_waiting_are_stale() -> None:
    t = template(WAIT)
    run = start(t, {"lot": "L-7", "qty": 3}).run

    for event in (
        EventReceived("await_lab", "lab.other", "LAB-L-7"),
        EventReceived("await_count", "wms.counted", "3"),
        EventReceived("done", "lab.result_posted", "LAB-L-7"),
    ):
        d = step(t, run, event)
        assert (d.accepted, d.run, d.commands) == (False, run, ())


def test_a_key_that_is_not_a_string_or_number_is_an_incident() -> None:
    t = template(WAIT.replace("key: input.qty", "key: input.qty > 1"))

    s = drive(
        t,
        [
            started(t, {"lot": "L-7", "qty": 3}),
            EventReceived("await_lab", "lab.result_posted", "LAB-L-7"),
        ],
    )

    assert s.run.status is RunStatus.INCIDENT
    assert s.run.incident == "await_count"
    assert "correlation key" in str(s.run.step("await_count").error)


# ---- parallel and join ---------------------------------------------------------------------

TWO = """
    id: two-branches
    version: 1
    steps:
      - id: fork
        kind: parallel
        branches: [inspect, quarantine]
        join: merge
      - id: inspect
        kind: action
        action: qc.inspect
        next: measure
      - id: measure
        kind: action
        action: qc.measure
        next: merge
      - id: quarantine
        kind: action
        action: wms.quarantine
        next: merge
      - id: merge
        kind: join
      - id: release
        kind: action
        action: wms.release
      - id: done
        kind: end
        outcome: released
"""

THREE = """
    id: three-branches
    version: 1
    roles: [QE]
    steps:
      - id: fork
        kind: parallel
        branches: [inspect, sign, cool]
        join: merge
      - id: inspect
        kind: action
        action: qc.inspect
        next: measure
      - id: measure
        kind: action
        action: qc.measure
        next: merge
      - id: sign
        kind: approval
        roles: [QE]
        next: merge
      - id: cool
        kind: timer
        duration: 30m
        next: merge
      - id: merge
        kind: join
"""


def interleavings(*branches: Sequence[Event]) -> list[list[Event]]:
    """Every order of the branches' facts that keeps each branch's own order."""
    live = [list(b) for b in branches if b]
    if not live:
        return [[]]
    out: list[list[Event]] = []
    for index, branch in enumerate(live):
        rest = [*live[:index], branch[1:], *live[index + 1 :]]
        out.extend([branch[0], *tail] for tail in interleavings(*rest))
    return out


TWO_ORDERS = interleavings(
    [StepSucceeded("inspect", 1), StepSucceeded("measure", 1)], [StepSucceeded("quarantine", 1)]
)
THREE_ORDERS = interleavings(
    [StepSucceeded("inspect", 1), StepSucceeded("measure", 1)],
    [TaskCompleted("sign", "r1:sign:1", "qe", "approve", "QE")],
    [TimerFired("timer:cool:1")],
)


def test_fork_starts_every_branch_at_once() -> None:
    t = template(TWO)

    d = start(t)

    assert d.commands == (
        RunAction("inspect", "qc.inspect", {}, 1, "r1:inspect:1"),
        RunAction("quarantine", "wms.quarantine", {}, 1, "r1:quarantine:1"),
    )
    assert d.run.active == ("inspect", "quarantine")
    assert d.run.step("fork").status is StepStatus.DONE
    assert d.run.joins == {"merge": 0}


@pytest.mark.parametrize("order", TWO_ORDERS, ids=lambda o: "-".join(e.step for e in o))
def test_two_branch_join_continues_after_both_arrive(order: list[Event]) -> None:
    t = template(TWO)

    s = drive_both(t, [started(t), *order])

    before_last = [c for d in s.decisions[:-1] for c in d.commands]
    assert not any(isinstance(c, RunAction) and c.step == "release" for c in before_last)
    # entered by the last branch's outcome, the run's fourth fact
    assert s.last.commands == (RunAction("release", "wms.release", {}, 1, "r1:release:4"),)
    assert s.run.active == ("release",)
    assert s.run.step("merge").status is StepStatus.DONE
    assert s.run.joins == {}
    finished = step(t, s.run, StepSucceeded("release", 1))
    assert finished.commands == (CompleteRun("completed", "released"),)


def test_first_arrival_waits_at_the_join() -> None:
    t = template(TWO)

    s = drive(t, [started(t), StepSucceeded("quarantine", 1)])

    assert s.last.commands == ()
    assert s.run.step("merge").status is StepStatus.WAITING
    assert s.run.joins == {"merge": 1}
    assert s.run.active == ("inspect",)
    assert s.last.trace[-1] == {"step": "merge", "change": "arrived", "count": 1}


@pytest.mark.parametrize("order", THREE_ORDERS)
def test_three_branch_join_completes_the_run_once(order: list[Event]) -> None:
    t = template(THREE)

    s = drive_both(t, [started(t), *order])

    completes = [c for c in s.commands if isinstance(c, CompleteRun)]
    assert completes == [CompleteRun("completed", "completed")]
    assert s.last.commands[-1] == CompleteRun("completed", "completed")
    assert s.run.status is RunStatus.COMPLETED
    assert s.run.active == ()
    assert s.run.joins == {}
    assert [e["change"] for e in s.traces if e["step"] == "merge"] == [
        "arrived",
        "arrived",
        "joined",
    ]


def test_three_branches_number_of_orders() -> None:
    # 2 facts in one branch, 1 in each of the others: 4! / 2! = 12 interleavings
    assert len(THREE_ORDERS) == 12
    assert len({tuple(map(repr, o)) for o in THREE_ORDERS}) == 12


def test_fork_opens_every_branch_kind() -> None:
    t = template(THREE)

    d = start(t)

    kinds = [type(c).__name__ for c in d.commands]
    assert kinds == ["RunAction", "OpenTask", "StartTimer"]
    assert d.commands[2] == StartTimer("timer:cool:1", T0 + timedelta(minutes=30))


def test_a_skipped_branch_still_arrives_at_the_join() -> None:
    t = template(
        TWO.replace("action: wms.quarantine", 'action: wms.quarantine\n        when: "false"')
    )

    d = start(t)

    assert d.run.step("quarantine").status is StepStatus.SKIPPED
    assert d.run.joins == {"merge": 1}
    done = step(t, step(t, d.run, StepSucceeded("inspect", 1)).run, StepSucceeded("measure", 1))
    assert [c.step for c in done.commands if isinstance(c, RunAction)] == ["release"]


def test_a_join_that_arrived_keeps_its_count_through_a_roundtrip() -> None:
    t = template(TWO)
    first = drive(t, [started(t), StepSucceeded("quarantine", 1)], roundtrip=True).run
    assert first.joins == {"merge": 1}

    d = engine.advance(t, first, StepSucceeded("inspect", 1), T0)
    d = engine.advance(t, d.run, StepSucceeded("measure", 1), T0)

    assert [c.step for c in d.commands if isinstance(c, RunAction)] == ["release"]


# ---- incidents in parallel branches --------------------------------------------------------

BRANCH_INCIDENT = """
    id: branch-incident
    version: 1
    input:
      type: object
      properties:
        qty: {type: integer}
    steps:
      - id: fork
        kind: parallel
        branches: [classify, weigh, pack]
        join: merge
      - id: classify
        kind: decide
        rules:
          - {id: big, when: "input.qty > 5", then: {big: true}}
        next: merge
      - id: weigh
        kind: action
        action: scale.weigh
        retry: {max_attempts: 1}
        next: merge
      - id: pack
        kind: action
        action: wms.pack
        next: label
      - id: label
        kind: action
        action: wms.label
        next: merge
      - id: merge
        kind: join
      - id: done
        kind: end
        outcome: shipped
"""


def test_an_incident_in_one_branch_does_not_stop_the_others() -> None:
    t = template(BRANCH_INCIDENT)

    s = drive_both(t, [started(t, {"qty": 1}), StepSucceeded("pack", 1)])

    first = s.decisions[0]
    assert first.run.status is RunStatus.INCIDENT
    assert first.run.incident == "classify"
    assert [c.step for c in first.commands if isinstance(c, RunAction)] == ["weigh", "pack"]
    assert s.last.commands == (RunAction("label", "wms.label", {}, 1, "r1:label:2"),)
    assert s.run.active == ("classify", "weigh", "label")


def test_retrying_an_incident_re_enters_every_failed_branch() -> None:
    t = template(BRANCH_INCIDENT)
    facts: list[Event] = [
        started(t, {"qty": 9}),  # classify matches and waits at the join
        StepFailed("weigh", 1, "offline"),
        StepFailed("pack", 1, "jammed", permanent=True),
    ]
    s = drive(t, facts)
    assert (s.run.status, s.run.incident) == (RunStatus.INCIDENT, "pack")

    retried = drive_both(
        t,
        [
            IncidentRetried("ops"),
            StepSucceeded("weigh", 2),
            StepSucceeded("pack", 2),
            StepSucceeded("label", 1),
        ],
        run=s.run,
    )

    assert retried.decisions[0].commands == (
        RunAction("weigh", "scale.weigh", {}, 2, "r1:weigh:1"),  # the failed visits' keys
        RunAction("pack", "wms.pack", {}, 2, "r1:pack:1"),
    )
    assert retried.run.outcome == "shipped"
