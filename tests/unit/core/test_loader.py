"""Loading and validating templates: every problem is reported, with its path and line."""

from __future__ import annotations

import hashlib
import re
import textwrap
from datetime import timedelta

import pytest
from scenario import FIXTURES, TEMPLATES, drive, started, supplier_ncr, template

from andon.core.events import StepSucceeded
from andon.core.loader import load_template, validate_text
from andon.core.run import RunStatus
from andon.core.template import (
    ActionSpec,
    ApprovalSpec,
    DecideSpec,
    Escalation,
    ParamRef,
    RetryPolicy,
    WaitSpec,
)
from andon.errors import Problem, TemplateError

HEAD = """\
id: demo
version: 1
roles: [QE, PS]
parameters:
  sla: {type: duration, default: 2d}
  boss: {type: role, default: PS}
input:
  type: object
  properties:
    qty: {type: integer}
    severity: {type: string}
    weight: {type: number}
steps:
"""


def problems(steps: str, head: str = HEAD) -> list[Problem]:
    """Validate ``head`` plus the (dedented) step list; the template must be refused."""
    t, found = validate_text(head + textwrap.dedent(steps), "demo.yaml")
    assert t is None
    assert found
    return found


def valid(steps: str, head: str = HEAD) -> None:
    t, found = validate_text(head + textwrap.dedent(steps), "demo.yaml")
    assert found == []
    assert t is not None


FIRST = len(HEAD.splitlines()) + 1
"""The line of the first step in ``HEAD + steps``."""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ---- the planted mistakes ------------------------------------------------------------------

PLANTED = {
    "undefined parameter": ("steps[1].due_in", "undefined parameter 'nope'"),
    "bad duration": ("steps[2].due_in", "bad duration '3 days'"),
    "unknown field": ("steps[3].severty", "unknown field 'severty'"),
    "dangling next": ("steps[3].next", "'next' points to unknown step 'shiping'"),
    "unreachable step": ("steps[5].id", "step 'archive' is unreachable from 'receive'"),
}


def test_bad_template_reports_all_five_planted_mistakes_with_path_and_line() -> None:
    path = FIXTURES / "bad-template.yaml"
    text = path.read_text()

    t, found = validate_text(text, path.name)

    assert t is None
    assert len(found) == 5
    by_path = {p.path: p for p in found}
    for marker, (where, message) in PLANTED.items():
        problem = by_path[where]
        assert message in problem.message, marker
        assert problem.line == line_of(text, f"MISTAKE {marker}"), marker
        assert problem.source == "bad-template.yaml"


def test_the_fixture_has_exactly_five_marked_mistakes() -> None:
    text = (FIXTURES / "bad-template.yaml").read_text()

    marked = re.findall(r"#\s*MISTAKE (.+)$", text, re.MULTILINE)

    assert sorted(marked) == sorted(PLANTED)


def test_load_template_raises_with_every_problem_located() -> None:
    path = FIXTURES / "bad-template.yaml"

    with pytest.raises(TemplateError) as caught:
        load_template(path.read_text(), path.name)

    assert len(caught.value.problems) == 5
    text = str(caught.value)
    assert "bad-template.yaml:42 steps[3].severty: unknown field 'severty'" in text


# ---- real templates ------------------------------------------------------------------------


def test_supplier_ncr_builds_the_specs_it_declares() -> None:
    t = supplier_ncr()

    assert (t.id, t.version, t.ref, t.start) == ("supplier-ncr", 1, "supplier-ncr@1", "record")
    text = (TEMPLATES / "supplier-ncr.yaml").read_text()
    assert t.digest == hashlib.sha256(text.encode()).hexdigest()
    record = t.step("record").spec
    assert isinstance(record, ActionSpec)
    assert record.retry == RetryPolicy(5, timedelta(seconds=2), 2.0, timedelta(minutes=1), 0.1)
    assert record.timeout == timedelta(seconds=30)
    mrb = t.step("mrb").spec
    assert isinstance(mrb, ApprovalSpec)
    assert (mrb.quorum, mrb.due_in) == ("all", ParamRef("mrb_sla"))
    assert mrb.escalations == (Escalation(ParamRef("mrb_sla"), ParamRef("mrb_escalation_role")),)
    assert dict(mrb.outcomes) == {"approve": "execute", "reject": "rejected"}
    disposition = t.step("disposition").spec
    assert isinstance(disposition, DecideSpec)
    assert len(disposition.rules) == 15
    assert t.step("scar_needed").spec.rules[0].next == "close_minor"  # type: ignore[union-attr]
    assert t.step("contain").next == "disposition"  # steps fall through to the one below
    assert isinstance(t.step("await_scar").spec, WaitSpec)


# ---- graph checks --------------------------------------------------------------------------


def test_a_cycle_that_never_waits_is_reported() -> None:
    found = problems(
        """\
        - id: weigh
          kind: action
          action: scale.weigh
        - id: check
          kind: decide
          rules:
            - {when: "input.qty > 1", then: {ok: true}}
          next: weigh
        """
    )

    assert [(p.path, p.message) for p in found] == [
        ("steps[0].next", "cycle check -> weigh never waits (add a wait, timer or approval)")
    ]


@pytest.mark.parametrize(
    "waiting",
    [
        "kind: wait\nevent: scale.ready\nkey: input.severity",
        "kind: timer\nduration: 5m",
        "kind: approval\nroles: [QE]",
    ],
)
def test_a_cycle_through_a_waiting_step_is_accepted(waiting: str) -> None:
    valid(
        """\
        - id: weigh
          kind: action
          action: scale.weigh
        - id: pause
          WAITING
          next: weigh
        """.replace("WAITING", waiting.replace("\n", "\n" + " " * 10))
    )


def test_a_parallel_branch_that_never_reaches_its_join_is_reported() -> None:
    found = problems(
        """\
        - id: fork
          kind: parallel
          branches: [left, right]
          join: merge
        - id: left
          kind: action
          action: x.left
          next: merge
        - id: right
          kind: action
          action: x.right
          next: done
        - id: merge
          kind: join
        - id: done
          kind: end
        """
    )

    assert [(p.path, p.message, p.line) for p in found] == [
        ("steps[0].join", "branch 'right' never reaches join 'merge'", FIRST + 3)
    ]


def test_a_join_must_close_a_parallel_and_a_parallel_must_join_at_a_join() -> None:
    found = problems(
        """\
        - id: fork
          kind: parallel
          branches: [left, right]
          join: right
        - id: left
          kind: action
          action: x.left
          next: right
        - id: right
          kind: action
          action: x.right
        - id: stray
          kind: join
        """
    )

    messages = {p.message for p in found}
    assert "'right' is a action step, not a join" in messages
    assert "join 'stray' closes no parallel step" in messages


def test_an_end_step_cannot_have_next() -> None:
    found = problems(
        """\
        - id: weigh
          kind: action
          action: scale.weigh
        - id: done
          kind: end
          next: weigh
        """
    )

    assert ("steps[1].next", "an end step cannot have 'next'", FIRST + 5) in [
        (p.path, p.message, p.line) for p in found
    ]


def test_a_last_step_that_is_not_an_end_completes_the_run() -> None:
    # Documented by the engine: a token with nowhere to go ends the run as 'completed'.
    t = template(HEAD + "  - id: weigh\n    kind: action\n    action: scale.weigh\n")

    s = drive(t, [started(t), StepSucceeded("weigh", 1)])

    assert t.step("weigh").next is None
    assert (s.run.status, s.run.outcome) == (RunStatus.COMPLETED, "completed")


def test_duplicate_step_ids_are_reported() -> None:
    found = problems(
        """\
        - id: weigh
          kind: action
          action: scale.weigh
          next: done
        - id: weigh
          kind: end
        - id: done
          kind: end
        """
    )

    assert [(p.path, p.message, p.line) for p in found] == [
        ("steps[1].id", "duplicate step id 'weigh'", FIRST + 4)
    ]


# ---- expressions in templates --------------------------------------------------------------


def test_an_expression_syntax_error_is_reported_at_its_field() -> None:
    found = problems("- id: a\n  kind: action\n  action: x.y\n  when: 'input.qty >'\n")

    assert len(found) == 1
    assert found[0].path == "steps[0].when"
    assert found[0].line == FIRST + 3
    assert found[0].message.startswith("syntax error in 'input.qty >': at 1:12")


def test_an_unknown_input_field_is_reported() -> None:
    found = problems("- id: a\n  kind: action\n  action: x.y\n  input:\n    s: input.severty\n")

    assert [(p.path, p.message, p.line) for p in found] == [
        ("steps[0].input.s", "unknown field 'severty'", FIRST + 4)
    ]


def test_arithmetic_mixing_int_and_double_is_a_type_error() -> None:
    found = problems("- id: a\n  kind: action\n  action: x.y\n  input:\n    q: input.qty * 2.5\n")

    assert len(found) == 1
    assert found[0].path == "steps[0].input.q"
    assert found[0].message.startswith("type error")
    valid("- id: a\n  kind: action\n  action: x.y\n  input:\n    q: double(input.qty) * 2.5\n")
    valid("- id: a\n  kind: action\n  action: x.y\n  input:\n    q: input.weight * 2.5\n")


def test_unknown_roots_and_non_boolean_conditions_are_reported() -> None:
    found = problems(
        "- id: a\n  kind: action\n  action: x.y\n  when: input.qty\n  input:\n    r: foo.bar\n"
    )

    assert {(p.path, p.message) for p in found} == {
        ("steps[0].when", "a condition must give true or false, got 1"),
        ("steps[0].input.r", "unknown name 'foo' (use one of event, input, params, run, steps)"),
    }


def test_expressions_on_decide_outputs_are_type_checked() -> None:
    decide = """\
        - id: classify
          kind: decide
          rules:
            - {when: "true", then: {lane: fast}}
        - id: a
          kind: action
          action: x.y
          input:
            n: EXPR
        """
    found = problems(decide.replace("EXPR", "steps.classify.output.lane * 2"))
    assert found[0].path == "steps[1].input.n"
    assert "string * int" in found[0].message
    valid(decide.replace("EXPR", "steps.classify.output.lane + '-lane'"))


def test_value_dependent_errors_in_the_sample_do_not_fail_validation() -> None:
    valid("- id: a\n  kind: action\n  action: x.y\n  when: 10 / (input.qty - 1) > 2\n")


# ---- other field checks --------------------------------------------------------------------


def test_roles_and_parameter_references_are_checked() -> None:
    found = problems(
        """\
        - id: sign
          kind: approval
          roles: [QA, $nope, $sla, $boss]
          escalate:
            - {after: $boss, to: QE}
        """
    )

    assert [(p.path, p.message) for p in found] == [
        ("steps[0].roles[0]", "undefined role 'QA' (declare it under 'roles')"),
        ("steps[0].roles[1]", "undefined parameter 'nope'"),
        ("steps[0].roles[2]", "parameter 'sla' is a duration, not a role"),
        ("steps[0].escalate[0].after", "parameter 'boss' is a role, not a duration"),
    ]


def test_unknown_fields_suggest_the_closest_name() -> None:
    found = problems("- id: a\n  kind: action\n  action: x.y\n  nxt: a\n")

    assert [(p.path, p.message) for p in found] == [
        ("steps[0].nxt", "unknown field 'nxt' (did you mean 'next'?)")
    ]


@pytest.mark.parametrize(
    ("step", "path", "message"),
    [
        ("kind: teleport", "steps[0].kind", "unknown step kind 'teleport'"),
        ("kind: timer\n  duration: 0s", "steps[0].duration", "must be longer than zero"),
        ("kind: timer", "steps[0].duration", "a timer needs a 'duration'"),
        (
            "kind: wait\n  event: scale.ready\n  key: input.severity\n  timeout: 1h",
            "steps[0].on_timeout",
            "a wait with a timeout needs 'on_timeout'",
        ),
        ("kind: wait\n  event: ready\n  key: '1'", "steps[0].event", "is not a dotted event type"),
        ("kind: approval\n  roles: [QE]\n  quorum: most", "steps[0].quorum", "must be 'any'"),
        (
            "kind: approval\n  roles: [QE]\n  outcomes: {reject: null}",
            "steps[0].outcomes",
            "outcomes must include 'approve'",
        ),
        (
            "kind: action\n  action: x.y\n  retry: {max_attempts: 0}",
            "steps[0].retry.max_attempts",
            "must be between 1 and 100",
        ),
        (
            "kind: action\n  action: x.y\n  retry: {initial: $sla}",
            "steps[0].retry.initial",
            "retry delays must be literal durations",
        ),
        (
            "kind: decide\n  hit: collect\n  rules:\n    - {when: 'true', next: a}",
            "steps[0].rules[0].next",
            "only first-hit tables can route with 'next'",
        ),
    ],
)
def test_step_field_problems(step: str, path: str, message: str) -> None:
    found = problems(f"- id: a\n  {step}\n")

    assert any(p.path == path and message in p.message for p in found), found


def test_top_level_problems() -> None:
    text = "id: Demo_1\nversion: 0\nsteps: []\ncolour: red\n"

    t, found = validate_text(text, "top.yaml")

    assert t is None
    assert {(p.path, p.line) for p in found} >= {
        ("colour", 4),
        ("id", 1),
        ("version", 2),
        ("steps", 3),
    }


def test_parameter_defaults_are_checked_against_their_type() -> None:
    head = HEAD.replace(
        "  boss: {type: role, default: PS}\n",
        "  boss: {type: role, default: CEO}\n  band: {type: money, default: {amount: x}}\n",
    )

    found = problems("- id: a\n  kind: end\n", head)

    assert {p.path for p in found} == {"parameters.boss.default", "parameters.band.default"}


# ---- YAML ----------------------------------------------------------------------------------


def test_duplicate_yaml_keys_are_refused_with_a_line() -> None:
    found = problems("- id: a\n  kind: action\n  action: x.y\n  action: x.z\n")

    assert len(found) == 1
    assert found[0].line == FIRST + 3
    assert "duplicate key" in found[0].message


ANCHORS = "anchors and aliases are not allowed"


@pytest.mark.parametrize(
    ("yaml", "message", "offset"),
    [
        (
            "- id: a\n  kind: action\n  action: &act x.y\n"
            "- id: b\n  kind: action\n  action: *act\n",
            ANCHORS,
            2,
        ),
        ("- id: a\n  kind: end\n- &step {id: b, kind: end}\n- *step\n", ANCHORS, 2),
        ("- id: a\n  kind: action\n  action: x.y\n  retry: &r {max_attempts: 2}\n", ANCHORS, 3),
        (
            "- id: a\n  kind: action\n  action: x.y\n  input:\n    <<: {k: input.qty}\n",
            "merge keys ('<<') are not allowed",
            3,
        ),
    ],
    ids=["scalar-alias", "mapping-alias", "anchor-only", "merge-key"],
)
def test_yaml_anchors_aliases_and_merge_keys_are_refused_with_a_line(
    yaml: str, message: str, offset: int
) -> None:
    found = problems(yaml)

    assert (found[0].message, found[0].line) == (message, FIRST + offset)


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    t, found = validate_text("- just\n- a list\n", "list.yaml")

    assert t is None
    assert found[0].message.startswith("a template must be a mapping")


def test_files_over_one_megabyte_are_refused() -> None:
    text = HEAD + "  - id: a\n    kind: end\n" + "# padding\n" * 100_000

    t, found = validate_text(text, "big.yaml")

    assert t is None
    assert [p.message for p in found] == ["file is larger than 1000000 bytes"]


def test_nesting_over_forty_levels_is_refused() -> None:
    deep = "x: " + "[" * 45 + "]" * 45 + "\n"

    t, found = validate_text(HEAD.replace("steps:\n", deep + "steps:\n"), "deep.yaml")

    assert t is None
    assert any(p.message == "nested deeper than 40 levels" for p in found)
