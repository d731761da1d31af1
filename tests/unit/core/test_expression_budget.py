"""CEL expressions are bounded by shape when compiled and by a computed budget before each
evaluation: the binding has no limits of its own and cannot be interrupted."""

from __future__ import annotations

import pytest

from andon.core.celbudget import MAX_MACRO_DEPTH, MAX_MACROS, MAX_UNITS, count_of, size_of
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
    single = compile_expression("input.items.all(x, x >= 0)")
    assert single.evaluate({"input": {"items": list(range(5_000))}}) is True


@pytest.mark.parametrize("builder", ["map(x, x * 2)", "filter(x, x >= 0)"])
def test_building_macros_are_quadratic_in_the_binding_and_budgeted_so(builder: str) -> None:
    # Each iteration copies the result so far: a map over 8,000 integers took 2.6 s.
    built = compile_expression(f"input.items.{builder}.size() > 0")
    assert built.evaluate({"input": {"items": list(range(300))}}) is True
    with pytest.raises(ExpressionError, match="too costly"):
        built.evaluate({"input": {"items": list(range(5_000))}})


def test_concatenated_receivers_multiply_what_a_macro_iterates() -> None:
    items = {"input": {"items": list(range(400))}}
    assert compile_expression("input.items.map(x, x).size() > 0").evaluate(items) is True
    twelve = " + ".join(["input.items"] * 12)
    with pytest.raises(ExpressionError, match="too costly"):
        compile_expression(f"({twelve}).map(x, x).size() > 0").evaluate(items)


def test_a_body_walks_only_the_inputs_it_reads() -> None:
    rows = [{"code": f"c{i}", "qty": i} for i in range(1_000)]
    allowed = [f"c{i}" for i in range(50)]
    membership = compile_expression("input.rows.all(r, r.code in params.allowed)")
    assert membership.shape.walks == {"params"}
    assert membership.evaluate({"input": {"rows": rows}, "params": {"allowed": allowed}}) is False
    against_itself = compile_expression("input.rows.all(r, r in input.rows)")
    with pytest.raises(ExpressionError, match="too costly"):
        against_itself.evaluate({"input": {"rows": rows}})


def test_a_plus_in_a_body_counts_what_it_can_copy() -> None:
    words = {"input": {"words": ["x" * 2_000] * 200}}
    assert compile_expression("input.words.all(w, w != '')").evaluate(words) is True
    with pytest.raises(ExpressionError, match="too costly"):
        compile_expression("input.words.all(w, w + w + w + w + w + w != '')").evaluate(words)


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


def test_count_is_the_longest_list_map_or_string() -> None:
    assert count_of([{"ab": ["xyz", 1]}, [1, 2]]) == 3
    assert count_of([{"a": 1, "b": 2, "c": 3, "d": 4}]) == 4
