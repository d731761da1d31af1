"""The pure engine: the real supplier NCR template end to end, retries, stale facts, decide
tables, skipped steps and cancellation. Approvals, waits and parallel branches are in
``test_engine_tasks.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scenario import (
    T0,
    Scenario,
    drive,
    drive_both,
    start,
    started,
    step,
    supplier_ncr,
    template,
)

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
    RunCancelled,
    StepFailed,
    StepSucceeded,
    TaskCompleted,
    TimerFired,
)
from andon.core.json import JsonObject
from andon.core.run import Run, RunStatus, StepStatus
from andon.core.template import Template
from andon.errors import ConflictError

NCR_INPUT: JsonObject = {
    "ncr_id": "NCR-7",
    "part": "P-100",
    "lot": "L-42",
    "supplier": "ACME",
    "qty_rejected": 12,
    "value": {"amount": 5000.0, "currency": "EUR"},
    "disposition": "scrap",
    "severity": "M",
    "defect_code": "D-17",
}
SCAR = "supplier.scar_response_received"


def ncr_facts(**overrides: object) -> list[Event]:
    """Record, contain, MRB approved by QE and PS, execute: up to the SCAR decision."""
    t = supplier_ncr()
    data = {**NCR_INPUT, **overrides}
    return [
        started(t, data),  # type: ignore[arg-type]
        StepSucceeded("record", 1, {"qms_id": "Q-1"}),
        StepSucceeded("contain", 1, {"blocked": True}),
        TaskCompleted("mrb", "r1:mrb:1", "alice", "approve", "QE"),
        TaskCompleted("mrb", "r1:mrb:1", "bob", "approve", "PS"),
        StepSucceeded("execute", 1),
    ]


HAPPY_TAIL: list[Event] = [
    StepSucceeded("issue_scar", 1, {"scar_id": "S-9"}),
    EventReceived("await_scar", SCAR, "NCR-7", {"root_cause": "worn die"}, "e-1"),
    TaskCompleted("review_scar", "r1:review_scar:1", "carol", "approve", "SQE"),
]


def actions(s: Scenario) -> list[tuple[str, int, str]]:
    return [(c.step, c.attempt, c.idempotency_key) for c in s.commands if isinstance(c, RunAction)]


# ---- the real template ---------------------------------------------------------------------


def test_supplier_ncr_happy_path_is_identical_with_and_without_roundtrips() -> None:
    t = supplier_ncr()

    s = drive_both(t, [*ncr_facts(), *HAPPY_TAIL])

    assert all(d.accepted for d in s.decisions)
    assert s.run.status is RunStatus.COMPLETED
    assert s.run.outcome == "closed"
    assert s.run.active == ()
    assert actions(s) == [
        ("record", 1, "r1:record:1"),
        ("contain", 1, "r1:contain:2"),
        ("execute", 1, "r1:execute:5"),
        ("issue_scar", 1, "r1:issue_scar:6"),
    ]
    assert s.run.step("disposition").detail == {"matched": ["scrap-mid"]}
    assert s.run.step("mrb").output == {"outcome": "approve", "approvers": ["alice", "bob"]}
    assert s.run.step("await_scar").output == {"root_cause": "worn die"}
    assert s.run.step("scar_needed").output == {"scar": True}
    assert [c for c in s.commands if isinstance(c, CompleteRun)] == [
        CompleteRun("completed", "closed")
    ]
    assert s.run.steps.keys().isdisjoint({"close_minor", "escalate_scar", "rejected"})


def test_supplier_ncr_commands_carry_evaluated_inputs_and_parameter_durations() -> None:
    t = supplier_ncr()

    s = drive(t, ncr_facts()[:3])

    contain = s.decisions[1].commands[0]
    assert contain == RunAction(
        "contain",
        "erp.block_lot",
        {"lot": "L-42", "part": "P-100", "reason": "NCR NCR-7"},
        1,
        "r1:contain:2",  # entered by the fact journaled second
        timedelta(seconds=30),
    )
    three_days = T0 + timedelta(days=3)  # $mrb_sla
    assert s.last.commands == (
        OpenTask("mrb", "r1:mrb:1", "MRB disposition", ("QE", "PS"), "all", three_days),
        StartTimer("timeout:mrb:1", three_days),
        StartTimer("escalate:mrb:1:1", three_days),
    )


def test_supplier_ncr_mrb_stays_open_until_every_role_approved() -> None:
    t = supplier_ncr()

    s = drive(t, ncr_facts()[:4])

    assert s.last.commands == ()
    assert s.run.step("mrb").status is StepStatus.WAITING
    assert s.run.active == ("mrb",)


def test_supplier_ncr_minor_defect_skips_the_scar_through_a_row_next() -> None:
    t = supplier_ncr()

    s = drive_both(t, ncr_facts(severity="m"))

    assert s.run.outcome == "closed"
    assert s.run.step("scar_needed").detail == {"matched": ["minor"]}
    assert "issue_scar" not in s.run.steps


def test_supplier_ncr_unanswered_scar_escalates_then_ends_overdue() -> None:
    t = supplier_ncr()
    facts: list[object] = [
        *ncr_facts(),
        StepSucceeded("issue_scar", 1),
        (timedelta(days=10), TimerFired("timeout:await_scar:1")),
        (timedelta(days=10), StepSucceeded("escalate_scar", 1)),
        (timedelta(days=15), TimerFired("timeout:await_scar_final:1")),
    ]

    s = drive_both(t, facts)  # type: ignore[arg-type]

    assert s.decisions[7].commands[0] == StopAwaiting("await_scar")
    assert s.decisions[8].commands == (
        AwaitEvent("await_scar_final", SCAR, "NCR-7", T0 + timedelta(days=15), since=T0),
        StartTimer("timeout:await_scar_final:1", T0 + timedelta(days=15)),
    )
    assert s.run.outcome == "closed_scar_overdue"
    assert s.run.step("await_scar").detail == {"key": "NCR-7", "timed_out": True}


def test_supplier_ncr_rejected_scar_waits_again_with_a_new_visit() -> None:
    t = supplier_ncr()
    facts: list[Event] = [
        *ncr_facts(),
        *HAPPY_TAIL[:2],
        TaskCompleted("review_scar", "r1:review_scar:1", "carol", "reject", "SQE"),
    ]

    s = drive_both(t, facts)

    assert s.run.step("await_scar").visit == 2
    assert s.last.commands[-2:] == (
        AwaitEvent("await_scar", SCAR, "NCR-7", T0 + timedelta(days=10), since=T0),
        StartTimer("timeout:await_scar:2", T0 + timedelta(days=10)),
    )
    late = step(t, s.run, TimerFired("timeout:await_scar:1"), timedelta(days=10))
    assert late.accepted is False
    answer = step(t, s.run, EventReceived("await_scar", SCAR, "NCR-7", {"v": 2}))
    review = [c for c in answer.commands if isinstance(c, OpenTask)]
    assert [c.task_id for c in review] == ["r1:review_scar:2"]


def test_supplier_ncr_mrb_escalates_to_the_overlay_role() -> None:
    t = supplier_ncr()
    first = ncr_facts()
    first[0] = started(t, NCR_INPUT, mrb_escalation_role="QA", extra_mrb_roles=["QA"])

    s = drive(t, [*first[:3], (timedelta(days=3), TimerFired("escalate:mrb:1:1"))])

    assert s.decisions[2].commands[0].roles == ("QE", "PS", "QA")  # type: ignore[union-attr]
    assert s.last.commands == (EscalateTask("mrb", "r1:mrb:1", "QA", 1),)
    assert s.run.step("mrb").detail["escalated_to"] == ["QA"]


def test_supplier_ncr_mrb_rejection_ends_the_run_and_closes_the_task() -> None:
    t = supplier_ncr()
    facts = [*ncr_facts()[:3], TaskCompleted("mrb", "r1:mrb:1", "alice", "reject", "QE")]

    s = drive_both(t, facts)

    assert s.last.commands == (
        CloseTask("r1:mrb:1", "reject"),
        CancelTimer("timeout:mrb:1"),
        CancelTimer("escalate:mrb:1:1"),
        CompleteRun("completed", "disposition_rejected"),
    )


# ---- retries -------------------------------------------------------------------------------

RETRY = """
    id: retry-demo
    version: 1
    parameters:
      budget: {type: duration, default: 45s}
    steps:
      - id: weigh
        kind: action
        action: scale.weigh
        retry: {max_attempts: 4, initial: 10s, factor: 3, max: 1m, jitter: 0.5}
        timeout: $budget
      - id: done
        kind: end
        outcome: weighed
"""
FALLBACK = """
      - id: fallback
        kind: end
        outcome: weighed_by_hand
"""
SLOW = """
      - id: slow
        kind: end
        outcome: scale_too_slow
"""


def retry_template(*, on_error: bool = False, on_timeout: bool = False) -> Template:
    text = RETRY
    if on_error:
        text = text.replace("timeout: $budget", "timeout: $budget\n        on_error: fallback")
        text += FALLBACK
    if on_timeout:
        text = text.replace("timeout: $budget", "timeout: $budget\n        on_timeout: slow")
        text += SLOW
    return template(text, "retry-demo.yaml")


def fail_times(t: Template, count: int, *, draw: float = 0.5) -> Scenario:
    """Start, then fail ``count`` attempts, firing each retry timer in between."""
    facts: list[Event] = [started(t)]
    for attempt in range(1, count + 1):
        facts.append(StepFailed("weigh", attempt, f"scale offline #{attempt}", draw=draw))
        if attempt < count:
            facts.append(TimerFired(f"retry:weigh:{attempt}"))
    return drive(t, facts)


@pytest.mark.parametrize(
    ("tries", "draw", "seconds"),
    [
        (1, 0.5, 10.0),  # initial
        (1, 0.0, 5.0),  # minus half the jitter
        (2, 0.25, 22.5),  # 10 * 3, times 0.75
        (3, 0.5, 60.0),  # 10 * 9 = 90, capped at 1m
        (3, 0.75, 75.0),  # the cap, then jitter on top
    ],
)
def test_failure_starts_a_backoff_timer(tries: int, draw: float, seconds: float) -> None:
    t = retry_template()
    run = fail_times(t, tries - 1).run
    if tries > 1:
        run = step(t, run, TimerFired(f"retry:weigh:{tries - 1}")).run

    d = step(t, run, StepFailed("weigh", tries, "scale offline", draw=draw))

    assert d.commands == (StartTimer(f"retry:weigh:{tries}", T0 + timedelta(seconds=seconds)),)
    assert d.run.step("weigh").status is StepStatus.RETRYING
    assert d.run.step("weigh").error == "scale offline"
    assert d.trace[-1]["delay_s"] == seconds


def test_retry_timer_runs_the_next_attempt_under_the_same_idempotency_key() -> None:
    t = retry_template()
    s = drive_both(t, [started(t), StepFailed("weigh", 1, "offline"), TimerFired("retry:weigh:1")])

    # the first attempt may have taken effect before it failed: the retry must be
    # recognisable as the same work, so only the attempt number changes
    assert s.last.commands == (
        RunAction("weigh", "scale.weigh", {}, 2, "r1:weigh:1", timedelta(seconds=45)),
    )
    state = s.run.step("weigh")
    assert (state.status, state.attempt, state.tries) == (StepStatus.ACTIVE, 2, 2)
    done = step(t, s.run, StepSucceeded("weigh", 2, {"kg": 12.5}))
    assert done.run.outcome == "weighed"
    assert done.run.step("weigh").output == {"kg": 12.5}
    assert done.run.step("weigh").error is None


def test_exhausted_retries_raise_an_incident_without_on_error() -> None:
    t = retry_template()

    s = fail_times(t, 4)

    assert s.last.commands == ()
    assert s.run.status is RunStatus.INCIDENT
    assert s.run.incident == "weigh"
    assert s.run.step("weigh").status is StepStatus.FAILED
    assert s.run.step("weigh").error == "scale offline #4"
    assert s.last.trace[-1] == {"step": "weigh", "change": "incident", "error": "scale offline #4"}


def test_exhausted_retries_follow_on_error() -> None:
    t = retry_template(on_error=True)

    s = fail_times(t, 4)

    assert s.run.status is RunStatus.COMPLETED
    assert s.run.outcome == "weighed_by_hand"
    assert s.run.incident is None


def test_incident_retry_re_enters_the_step_with_a_new_attempt_and_the_same_key() -> None:
    t = retry_template()
    s = fail_times(t, 4)

    retried = step(t, s.run, IncidentRetried("ops", "scale rebooted"))

    assert retried.run.status is RunStatus.RUNNING
    assert retried.run.incident is None
    assert retried.commands == (
        RunAction("weigh", "scale.weigh", {}, 5, "r1:weigh:1", timedelta(seconds=45)),
    )
    state = retried.run.step("weigh")
    assert (state.visit, state.attempt, state.tries, state.activation) == (2, 5, 1, 1)
    # the retry budget starts over for the new visit: the next failure backs off again
    again = step(t, retried.run, StepFailed("weigh", 5, "still offline"))
    assert again.commands == (StartTimer("retry:weigh:5", T0 + timedelta(seconds=10)),)


def test_one_key_for_every_attempt_of_a_visit_with_rising_attempt_numbers() -> None:
    t = retry_template()
    facts: list[Event] = [started(t)]
    for attempt in range(1, 9):
        facts.append(StepFailed("weigh", attempt, "offline"))
        facts.append(
            IncidentRetried() if attempt % 4 == 0 else TimerFired(f"retry:weigh:{attempt}")
        )

    s = drive_both(t, facts)

    sent = [(c.attempt, c.idempotency_key) for c in s.commands if isinstance(c, RunAction)]
    assert sent == [(n, "r1:weigh:1") for n in range(1, 10)]


def test_incident_retry_without_an_incident_is_a_conflict() -> None:
    t = retry_template()
    run = start(t).run

    with pytest.raises(ConflictError, match="no incident"):
        engine.advance(t, run, IncidentRetried(), T0)


def test_permanent_failure_skips_the_remaining_retries() -> None:
    t = retry_template()

    s = drive(t, [started(t), StepFailed("weigh", 1, "no such scale", permanent=True)])

    assert s.last.commands == ()
    assert s.run.status is RunStatus.INCIDENT
    assert s.run.step("weigh").tries == 1


def test_timed_out_failure_goes_to_on_timeout_when_set() -> None:
    t = retry_template(on_error=True, on_timeout=True)

    s = drive(t, [started(t), StepFailed("weigh", 1, "45s passed", permanent=True, timed_out=True)])

    assert s.run.outcome == "scale_too_slow"
    assert s.last.trace[0] == {
        "step": "weigh",
        "change": "failed",
        "error": "45s passed",
        "next": "slow",
    }


def test_timed_out_failure_retries_first_and_uses_on_error_without_on_timeout() -> None:
    with_timeout = retry_template(on_timeout=True)
    retrying = step(
        with_timeout, start(with_timeout).run, StepFailed("weigh", 1, "t", timed_out=True)
    )
    assert retrying.commands == (StartTimer("retry:weigh:1", T0 + timedelta(seconds=10)),)

    only_error = retry_template(on_error=True)
    s = drive(only_error, [started(only_error), StepFailed("weigh", 1, "t", True, timed_out=True)])
    assert s.run.outcome == "weighed_by_hand"


# ---- stale facts ---------------------------------------------------------------------------


def assert_stale(t: Template, run: Run, event: Event) -> None:
    d = engine.advance(t, run, event, T0 + timedelta(hours=1))
    assert d.accepted is False
    assert d.run == run
    assert (d.commands, d.trace) == ((), ())


def test_success_or_failure_of_a_superseded_attempt_is_stale() -> None:
    t = retry_template()
    s = drive(t, [started(t), StepFailed("weigh", 1, "offline"), TimerFired("retry:weigh:1")])

    assert_stale(t, s.run, StepSucceeded("weigh", 1, {"kg": 1}))
    assert_stale(t, s.run, StepFailed("weigh", 1, "late failure"))
    assert_stale(t, s.run, StepSucceeded("weigh", 3))


def test_result_while_retrying_or_for_an_unknown_step_is_stale() -> None:
    t = retry_template()
    s = drive(t, [started(t), StepFailed("weigh", 1, "offline")])

    assert_stale(t, s.run, StepSucceeded("weigh", 1))
    assert_stale(t, s.run, StepSucceeded("done", 1))
    assert_stale(t, s.run, StepSucceeded("nowhere", 1))


def test_old_cancelled_or_malformed_timers_are_stale() -> None:
    t = retry_template()
    s = drive(t, [started(t), StepFailed("weigh", 1, "offline"), TimerFired("retry:weigh:1")])

    assert_stale(t, s.run, TimerFired("retry:weigh:1"))  # fired twice
    assert_stale(t, s.run, TimerFired("retry:weigh:2"))  # attempt 2 has not failed
    assert_stale(t, s.run, TimerFired("timeout:weigh:1"))
    assert_stale(t, s.run, TimerFired("bogus"))
    assert_stale(t, s.run, TimerFired("retry:weigh:x"))


def test_approval_timers_after_the_approval_closed_are_stale() -> None:
    t = supplier_ncr()
    s = drive(t, ncr_facts())

    assert_stale(t, s.run, TimerFired("timeout:mrb:1"))
    assert_stale(t, s.run, TimerFired("escalate:mrb:1:1"))


# ---- decide --------------------------------------------------------------------------------

DECIDE = """
    id: decide-demo
    version: 1
    input:
      type: object
      properties:
        qty: {type: integer}
        severity: {type: string}
    steps:
      - id: classify
        kind: decide
        hit: {hit}
        rules:
          - {id: big, when: "input.qty > 100", then: {lane: big}}
          - {id: medium, when: "input.qty > 10", then: {lane: medium}}
          - {id: critical, when: "input.severity == 'C'", then: {lane: critical}{row_next}}
        {default}
        next: ship
      - id: ship
        kind: action
        action: wms.ship
        input:
          lane: steps.classify.output
        on_error: urgent
        next: shipped
      - id: urgent
        kind: end
        outcome: urgent
      - id: shipped
        kind: end
        outcome: shipped
"""


def decide_template(hit: str = "first", default: str = "") -> Template:
    row_next = ", next: urgent" if hit == "first" else ""
    text = DECIDE.replace("{hit}", hit).replace("{row_next}", row_next)
    return template(text.replace("{default}", default), "decide-demo.yaml")


@pytest.mark.parametrize(
    ("qty", "severity", "matched", "lane"),
    [(500, "C", "big", "big"), (50, "m", "medium", "medium"), (50, "C", "medium", "medium")],
)
def test_first_hit_picks_the_first_matching_row(
    qty: int, severity: str, matched: str, lane: str
) -> None:
    t = decide_template()

    d = start(t, {"qty": qty, "severity": severity})

    assert d.run.step("classify").detail == {"matched": [matched]}
    assert d.run.step("classify").output == {"lane": lane}
    assert d.commands[0] == RunAction("ship", "wms.ship", {"lane": {"lane": lane}}, 1, "r1:ship:1")


def test_first_hit_row_next_routes_the_run() -> None:
    t = decide_template()

    d = start(t, {"qty": 1, "severity": "C"})

    assert d.run.outcome == "urgent"
    assert d.run.step("classify").output == {"lane": "critical"}
    assert "ship" not in d.run.steps


def test_collect_returns_every_matching_row() -> None:
    t = decide_template("collect")

    d = start(t, {"qty": 500, "severity": "C"})

    assert d.run.step("classify").output == {
        "results": [{"lane": "big"}, {"lane": "medium"}, {"lane": "critical"}]
    }
    assert d.run.step("classify").detail == {"matched": ["big", "medium", "critical"]}
    assert d.trace[1] == {
        "step": "classify",
        "change": "decided",
        "matched": ["big", "medium", "critical"],
        "conditions": ["input.qty > 100", "input.qty > 10", "input.severity == 'C'"],
        "output": {"results": [{"lane": "big"}, {"lane": "medium"}, {"lane": "critical"}]},
    }
    assert isinstance(d.commands[0], RunAction)  # collect tables never route by row


def test_no_match_uses_the_default() -> None:
    t = decide_template(default="default: {lane: standard}")

    d = start(t, {"qty": 1, "severity": "m"})

    assert d.run.step("classify").output == {"lane": "standard"}
    assert d.run.step("classify").detail == {"matched": []}
    assert d.commands[0].input == {"lane": {"lane": "standard"}}  # type: ignore[union-attr]


def test_no_match_without_default_is_an_incident() -> None:
    t = decide_template()

    d = start(t, {"qty": 1, "severity": "m"})

    assert d.run.status is RunStatus.INCIDENT
    assert d.run.incident == "classify"
    assert d.run.step("classify").error == "no rule matched and the decide step has no default"
    assert d.commands == ()


def test_expression_failure_at_run_time_is_an_incident() -> None:
    t = decide_template()

    d = start(t, {"severity": "m"})  # no qty: input.qty has no such field

    assert d.run.status is RunStatus.INCIDENT
    assert "qty" in str(d.run.step("classify").error)


def test_division_by_zero_at_run_time_is_an_incident_not_a_crash() -> None:
    t = template(
        """
        id: ratio
        version: 1
        input: {type: object, properties: {qty: {type: integer}}}
        steps:
          - id: check
            kind: action
            action: qc.check
            when: "10 / (input.qty - 1) > 2"
          - id: done
            kind: end
        """
    )

    assert start(t, {"qty": 3}).commands[0] == RunAction("check", "qc.check", {}, 1, "r1:check:1")
    d = start(t, {"qty": 1})
    assert d.run.status is RunStatus.INCIDENT
    assert "division by zero" in str(d.run.step("check").error)


# ---- when ----------------------------------------------------------------------------------

WHEN = """
    id: when-demo
    version: 1
    input:
      type: object
      properties:
        qty: {type: integer}
    steps:
      - id: inspect
        kind: action
        action: qc.inspect
        when: input.qty > 100
      - id: sign
        kind: approval
        roles: [QE]
        when: input.qty > 1000
      - id: ship
        kind: action
        action: wms.ship
      - id: audit
        kind: action
        action: qa.audit
        when: "false"
    roles: [QE]
"""


def test_false_when_skips_the_step_and_continues_to_next() -> None:
    t = template(WHEN)

    d = start(t, {"qty": 5})

    assert d.commands == (RunAction("ship", "wms.ship", {}, 1, "r1:ship:1"),)
    assert d.run.step("inspect").status is StepStatus.SKIPPED
    assert d.run.step("sign").status is StepStatus.SKIPPED
    assert d.run.active == ("ship",)
    assert [e["change"] for e in d.trace] == ["started", "skipped", "skipped"]
    assert d.entered == ("inspect", "sign", "ship"), "the path: skipped steps were entered"
    assert step(t, d.run, StepSucceeded("ship", 1)).entered == ("audit",)


def test_true_when_runs_the_step() -> None:
    t = template(WHEN)

    d = start(t, {"qty": 500})

    assert d.commands == (RunAction("inspect", "qc.inspect", {}, 1, "r1:inspect:1"),)
    after = step(t, d.run, StepSucceeded("inspect", 1))
    assert after.run.step("sign").status is StepStatus.SKIPPED
    assert [c.step for c in after.commands if isinstance(c, RunAction)] == ["ship"]


def test_skipped_last_step_completes_the_run() -> None:
    t = template(WHEN)

    s = drive(t, [started(t, {"qty": 5}), StepSucceeded("ship", 1)])

    assert s.run.step("audit").status is StepStatus.SKIPPED
    assert s.run.status is RunStatus.COMPLETED
    assert s.last.commands == (CompleteRun("completed", "completed"),)


# ---- cancellation and ended runs -----------------------------------------------------------


def test_cancel_ends_the_run() -> None:
    t = retry_template()
    run = start(t).run

    d = step(t, run, RunCancelled("wrong part", "ops"), timedelta(minutes=5))

    assert d.run.status is RunStatus.CANCELLED
    assert d.run.outcome == "cancelled"
    assert d.run.ended_at == T0 + timedelta(minutes=5)
    assert d.commands == (CompleteRun("cancelled", "cancelled"),)
    assert d.trace == ({"step": "", "change": "cancelled", "actor": "ops", "reason": "wrong part"},)


@pytest.mark.parametrize(
    "late",
    [
        StepSucceeded("weigh", 1),
        StepFailed("weigh", 1, "offline"),
        TimerFired("retry:weigh:1"),
        RunCancelled("again"),
        IncidentRetried(),
    ],
)
def test_facts_after_the_end_are_not_accepted(late: Event) -> None:
    t = retry_template()
    cancelled = drive(t, [started(t), RunCancelled("wrong part")]).run
    completed = drive(t, [started(t), StepSucceeded("weigh", 1)]).run

    assert completed.status is RunStatus.COMPLETED
    assert_stale(t, cancelled, late)
    assert_stale(t, completed, late)


def test_a_run_starts_only_once() -> None:
    t = retry_template()
    run = start(t).run

    with pytest.raises(ConflictError, match="already started"):
        engine.advance(t, run, started(t), T0)


def test_every_accepted_fact_advances_the_sequence() -> None:
    t = retry_template()

    s = drive(t, [started(t), StepFailed("weigh", 1, "x"), StepSucceeded("weigh", 1)])

    assert [d.run.seq for d in s.decisions] == [1, 2, 2]
    assert s.decisions[0].run.started_at == T0


REMIND_LOOP = """
    id: remind-loop
    version: 1
    steps:
      - {id: remind, kind: action, action: mail.remind, retry: {max_attempts: 3}}
      - id: answer
        kind: wait
        event: supplier.answered
        key: '"S-1"'
        timeout: 1h
        on_timeout: remind
      - {id: done, kind: end, outcome: answered}
"""


def test_a_loop_re_entering_a_step_gets_a_new_key_and_its_retries_keep_it() -> None:
    t = template(REMIND_LOOP)
    facts: list[Event] = [
        started(t),  # seq 1 enters remind
        StepFailed("remind", 1, "smtp down"),
        TimerFired("retry:remind:1"),
        StepSucceeded("remind", 2),
        TimerFired("timeout:answer:1"),  # seq 5 loops back into remind
        StepFailed("remind", 3, "smtp down"),
        TimerFired("retry:remind:3"),
    ]

    s = drive_both(t, facts)

    sent = [(c.attempt, c.idempotency_key) for c in s.commands if isinstance(c, RunAction)]
    assert sent == [(1, "r1:remind:1"), (2, "r1:remind:1"), (3, "r1:remind:5"), (4, "r1:remind:5")]
    assert (s.run.step("remind").visit, s.run.step("remind").activation) == (2, 5)
