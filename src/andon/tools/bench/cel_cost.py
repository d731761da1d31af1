"""How long the costliest CEL evaluations the budget admits take on this machine.

Each expression of a family that covers the binding's dear paths (iteration, ``map`` and
``filter`` accumulators, membership, equality and concatenation in bodies, concatenated
receivers, nesting, chaining, literals) is grown on its inputs until one more doubling
would exceed ``MAX_UNITS``, then timed there. The worst time is what one evaluation can
hold the GIL for: the budget's promise is that it stays well under 100 ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from andon.core.celbudget import MAX_UNITS
from andon.core.expressions import Expression, compile_expression
from andon.core.json import JsonObject, JsonValue

Inputs = Callable[[int], JsonObject]


def _numbers(n: int) -> JsonObject:
    return {"input": {"items": list(range(n))}}


def _words(n: int) -> JsonObject:
    return {"input": {"items": ["x" * 50] * n}}


def _rows(n: int) -> JsonObject:
    rows: list[JsonValue] = [{"code": f"c{i}", "qty": i} for i in range(n)]
    allowed: list[JsonValue] = [f"c{i}" for i in range(50)]
    return {"input": {"rows": rows}, "params": {"allowed": allowed}}


def _literal(n: int) -> str:
    return "[" + ",".join(["9"] * n) + "]"


FAMILY: tuple[tuple[str, Inputs], ...] = (
    ("input.items.all(a, a >= 0)", _numbers),
    ("input.items.exists_one(a, a == -1) || true", _numbers),
    ("input.items.map(a, a).size() > 0", _numbers),
    ("input.items.filter(a, true).size() > 0", _numbers),
    ("input.items.all(a, a in input.items)", _numbers),
    ("input.items.all(a, input.items == input.items)", _numbers),
    ("input.items.all(a, input.items.all(b, a + b >= 0))", _numbers),
    ("input.items.map(a, input.items.map(b, b)).size() > 0", _numbers),
    ("input.items.map(a, a).map(b, b).size() > 0", _numbers),
    ("(input.items + input.items + input.items).map(a, a).size() > 0", _numbers),
    ("input.items.all(a, a + a + a + a != '')", _words),
    ("input.items.map(a, a + a).size() > 0", _words),
    ("input.rows.all(r, r.code in params.allowed)", _rows),
    *(
        (f"{_literal(n)}.{macro}", lambda _: {})
        for n in (100, 300, 600)
        for macro in ("map(a, a).size() > 0", "all(a, a >= 0)")
    ),
)


@dataclass(frozen=True, slots=True)
class Timed:
    source: str
    n: int
    ms: float


def _largest_admitted(expression: Expression, inputs: Inputs) -> tuple[int, JsonObject] | None:
    if not expression.variables - {"a", "b"}:  # literals only: nothing to grow
        return (0, inputs(0)) if expression.over_budget({}) is None else None
    found = None
    n = 1
    while n <= 1 << 20:
        context = inputs(n)
        if expression.over_budget(context) is not None:
            break
        found = (n, context)
        n *= 2
    return found


def run_cel_bench(repeats: int = 3) -> dict[str, object]:
    """The slowest of ``repeats`` timings of each family member at its largest admitted
    input; the worst of them all is the figure to compare with 100 ms."""
    timed: list[Timed] = []
    for source, inputs in FAMILY:
        expression = compile_expression(source)
        admitted = _largest_admitted(expression, inputs)
        if admitted is None:
            continue
        n, context = admitted
        slowest = 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            expression.evaluate(context)
            slowest = max(slowest, time.perf_counter() - started)
        timed.append(Timed(source[:70], n, round(slowest * 1000, 2)))
    worst = max(timed, key=lambda t: t.ms)
    return {
        "max_units": MAX_UNITS,
        "worst_ms": worst.ms,
        "worst": worst.source,
        "expressions": [{"source": t.source, "n": t.n, "ms": t.ms} for t in timed],
    }
