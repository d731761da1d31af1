"""CEL expressions are bounded by shape when compiled and by a computed budget before each
evaluation: the binding has no limits of its own and cannot be interrupted."""

from __future__ import annotations

import pytest

from andon.core.celbudget import MAX_MACRO_DEPTH, MAX_MACROS, MAX_UNITS, size_of
from andon.core.expressions import compile_expression
from andon.core.loader import validate_text
from andon.errors import ExpressionError


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("[[1]]" + ".map(x, x + x)" * 3, "chained 3 deep"),
        ("l.all(a, l.all(b, l.all(c, a == b)))", "nested or chained 3 deep"),
        ("l.map(a, a).filter(b, b > 0).exists(c, c == 1)", "chained 3 deep"),
        (" || ".join(["l.exists(x, x == 1)"] * (MAX_MACROS + 1)), f"at most {MAX_MACROS}"),
    ],
)
def test_shapes_that_grow_without_bound_are_refused_when_compiled(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=reason):
        compile_expression(source)


def test_macro_names_in_strings_and_independent_macros_do_not_count() -> None:
    assert compile_expression("'.map(.map(.map(' == input.s").shape.depth == 0
    side_by_side = compile_expression("l.exists(x, x == 1) && l.all(y, y > 0)")
    assert side_by_side.shape.depth == 1
    assert compile_expression("l.map(a, l.all(b, a < b))").shape.depth == MAX_MACRO_DEPTH


def test_the_budget_is_checked_before_evaluating() -> None:
    pairs = compile_expression("input.items.exists(a, input.items.exists(b, a + b == -1))")
    assert pairs.evaluate({"input": {"items": list(range(20))}}) is False
    with pytest.raises(ExpressionError, match=f"too costly to evaluate: .* more than {MAX_UNITS}"):
        pairs.evaluate({"input": {"items": list(range(5_000))}})
    linear = compile_expression("input.items.map(x, x * 2).size() == 5000")
    assert linear.evaluate({"input": {"items": list(range(5_000))}}) is True


def test_literals_count_towards_the_budget_too() -> None:
    nines = "[" + ",".join(["9"] * 600) + "]"
    with pytest.raises(ExpressionError, match="too costly"):
        compile_expression(f"{nines}.all(a, {nines}.all(b, a == b))").evaluate({})


def test_validation_names_the_path_and_line() -> None:
    text = "id: x\nversion: 1\nsteps:\n  - id: a\n    kind: end\n    when: l.all(a, l.all(b, l.all(c, true)))\n"
    _, problems = validate_text(text, "deep.yaml")
    assert [str(p).split(" comprehension")[0] for p in problems] == ["deep.yaml:6 steps[0].when:"]


def test_size_counts_nodes_and_characters() -> None:
    assert size_of([{"ab": ["xyz", 1]}]) == 1 + 2 + 1 + 1 + 3 + 1
