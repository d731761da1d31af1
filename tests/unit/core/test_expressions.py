"""CEL expressions: compiled once, evaluated to JSON only, with no way out to Python."""

from __future__ import annotations

import pytest

from andon.core.expressions import MAX_SOURCE_CHARS, check, compile_expression
from andon.core.json import JsonValue
from andon.errors import ExpressionError

CONTEXT: dict[str, JsonValue] = {
    "input": {"qty": 12, "weight": 2.5, "lot": "L-7", "items": [{"ok": True}, {"ok": False}]},
    "params": {"limit": {"amount": 1000.0, "currency": "EUR"}, "roles": ["QE"]},
    "steps": {"classify": {"status": "done", "output": {"lane": "fast"}}},
    "run": {"id": "r1", "plant": "DE-STR"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.qty * 2", 24),
        ("input.weight * 2.0", 5.0),
        ("'LOT-' + input.lot", "LOT-L-7"),
        ("input.qty > 10 && run.plant == 'DE-STR'", True),
        ("params.limit.amount >= 1000.0", True),
        ("params.roles + ['PS']", ["QE", "PS"]),
        ("{'lane': steps.classify.output.lane, 'n': size(input.items)}", {"lane": "fast", "n": 2}),
        ("input.items.filter(i, i.ok).size()", 1),
        ("input.items.exists(i, !i.ok)", True),
        ("has(input.missing)", False),
        ("null", None),
    ],
)
def test_evaluate_gives_json(source: str, expected: JsonValue) -> None:
    assert compile_expression(source).evaluate(CONTEXT) == expected


def test_variables_are_the_roots_used() -> None:
    expr = compile_expression("input.qty > params.limit.amount && steps.a.status == 'done'")

    assert expr.variables == {"input", "params", "steps"}
    assert (
        repr(expr) == "Expression(\"input.qty > params.limit.amount && steps.a.status == 'done'\")"
    )


def test_compiling_the_same_source_twice_reuses_the_program() -> None:
    assert compile_expression("input.qty + 1") is compile_expression("input.qty + 1")


def test_conditions_must_be_boolean() -> None:
    assert compile_expression("input.qty > 1").test(CONTEXT) is True
    assert compile_expression("input.qty < 1").test(CONTEXT) is False

    with pytest.raises(ExpressionError, match="condition gave 12, not a boolean"):
        compile_expression("input.qty").test(CONTEXT)
    with pytest.raises(ExpressionError, match="not a boolean"):
        compile_expression("'true'").test(CONTEXT)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("timestamp('2025-01-01T00:00:00Z')", "datetime"),
        ("duration('1h')", "timedelta"),
        ("b'abc'", "bytes"),
        ("{1: 'one'}", "dict"),  # map keys must be strings in JSON
    ],
)
def test_results_must_be_json(source: str, kind: str) -> None:
    with pytest.raises(ExpressionError, match=f"result of type {kind} is not a JSON value"):
        compile_expression(source).evaluate(CONTEXT)


def test_overlong_expressions_are_refused_before_parsing() -> None:
    longest = " + ".join(["1"] * ((MAX_SOURCE_CHARS + 3) // 4))[:MAX_SOURCE_CHARS].rstrip(" +")
    assert compile_expression(longest).evaluate({}) == longest.count("1")

    with pytest.raises(ExpressionError, match="expression is 10000 characters; at most 4096"):
        compile_expression("x" * 10_000)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("input.qty >", "syntax error in 'input.qty >': at 1:12"),
        ("(1 + 2", "syntax error"),
        ("input.qty === 1", "syntax error"),
    ],
)
def test_syntax_errors_name_the_position(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        compile_expression(source)


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('true')",
        "__import__('os')",
        "eval('1 + 1')",
        "open('/etc/passwd')",
        "input.__class__",
        "input.__class__.__mro__",
        "input['__class__']",
        "''.__class__",
        "input.lot.__len__()",
        "getattr(input, 'qty')",
        "exec('import os')",
    ],
)
def test_there_is_no_way_to_reach_python(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(source).evaluate(CONTEXT)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("input.nope", "no such field 'nope'"),
        ("input.qty * 2.5", "No such overload"),
        ("int('x')", "string parse error"),
        ("input.qty / (input.qty - 12)", "division by zero"),
        ("9223372036854775807 + input.qty", "overflow"),
        ("input.items[5]", "index out of bounds"),
    ],
)
def test_evaluation_errors_become_expression_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source).evaluate(CONTEXT)


# ---- check: type errors before a run -------------------------------------------------------

SAMPLE: dict[str, JsonValue] = {
    "input": {"qty": 1, "weight": 1.5, "severity": "x", "items": [{"qty": 1}]},
    "params": {"limit": 10},
}


@pytest.mark.parametrize(
    "source",
    [
        "input.qty * 2",
        "double(input.qty) * 2.5",
        "input.weight * 2.5",
        "input.items.all(item, item.qty > 0)",
        "input.items.map(x, x.qty + params.limit)",
        "steps.anything.output.at.all",  # roots absent from the sample are not checked
        "event.payload.qty * 2.5",
        "10 / (input.qty - 1)",  # a zero that depends on the sample's value, not its type
        "input.items[3].qty",
    ],
)
def test_check_accepts_well_typed_expressions(source: str) -> None:
    assert check(compile_expression(source), SAMPLE) is None


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("input.severty == 'C'", "unknown field 'severty'"),
        ("input.qty * 2.5", "type error: no such overload"),
        ("input.severity * 2", "Unsupported operation: string * int"),
        ("foo.bar", "unknown name 'foo' (use one of event, input, params, run, steps)"),
        ("input.items.all(i, j > 0)", "unknown name 'j'"),
    ],
)
def test_check_reports_type_problems(source: str, problem: str) -> None:
    found = check(compile_expression(source), SAMPLE)

    assert found is not None
    assert found.startswith(problem)


@pytest.mark.parametrize(
    "source",
    ["input.qty", "input.items", "params.limit.currency", "steps.classify.output", " run.plant "],
)
def test_plain_field_paths_take_the_fast_path_and_agree_with_cel(source: str) -> None:
    expression = compile_expression(source)
    assert expression.path is not None
    fast = expression.evaluate(CONTEXT)
    through_cel = compile_expression(f"({source.strip()})")  # parenthesised: not a plain path
    assert through_cel.path is None
    assert fast == through_cel.evaluate(CONTEXT)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("input.missing", "no such field 'missing'"),
        ("steps.classify.output.lane.speed", "cannot select 'speed' from a str"),
        ("params.limit.amount.x", "cannot select 'x' from a float"),
    ],
)
def test_the_fast_path_names_what_is_missing(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source).evaluate(CONTEXT)


def test_names_that_are_not_roots_never_take_the_fast_path() -> None:
    assert compile_expression("true").path is None
    assert compile_expression("qty.value").path is None
