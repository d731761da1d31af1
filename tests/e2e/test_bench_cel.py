"""``andon bench-cel``: every expression of the family is admitted at some size, grown to
the budget and timed there; the figures it reports, from a real run (no timing limits)."""

from __future__ import annotations

import json

from andon.core.celbudget import MAX_UNITS
from andon.core.expressions import compile_expression
from andon.tools.bench.cel_cost import FAMILY, run_cel_bench


def test_bench_cel_times_each_expression_at_the_largest_input_the_budget_admits() -> None:
    result = run_cel_bench(repeats=1)
    assert result["max_units"] == MAX_UNITS
    timed = result["expressions"]
    assert isinstance(timed, list) and len(timed) == len(FAMILY)
    for entry, (source, inputs) in zip(timed, FAMILY, strict=True):
        expression = compile_expression(source)
        n = entry["n"]
        assert expression.over_budget(inputs(n)) is None
        if "input" in source:  # one more doubling is what the budget refuses
            assert expression.over_budget(inputs(2 * n)) is not None, source
    assert result["worst_ms"] == max(entry["ms"] for entry in timed)
    json.dumps(result)  # printable as the command prints it
