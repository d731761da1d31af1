"""A cost bound for CEL expressions, computed from their shape, never timed.

The CEL binding has no cost or recursion limit and holds the GIL while it runs, so one
hostile expression (comprehensions nested over a list, or chained so that each doubles the
last result) froze the whole process for minutes. Growth in CEL comes only from the
comprehension macros: without them an expression does work linear in its length and the
size of its inputs. So the shape is bounded when a template is loaded (how many macros,
how deeply nested or chained) and, before each evaluation, ``(size + length) ** depth``
bounds the work: every macro iterates a collection no larger than the inputs plus the
literals, once per iteration of each macro it is nested in or chained after.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from andon.core.json import JsonValue

MAX_MACROS = 8
MAX_MACRO_DEPTH = 2
MAX_UNITS = 1_000_000
"""About 0.4 µs a unit in the binding: a budgeted evaluation stays well under a second."""

_BUILD_WEIGHT = 32
_MACRO = re.compile(r"\.\s*(all|exists_one|exists|map|filter)\s*\(")
_SEPARATOR = re.compile(r"[\s,?:&|=<>!+\-*/%(]")
_STRING = re.compile(
    r"""(?s)[rRbB]*('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")"""
)


@dataclass(frozen=True, slots=True)
class Shape:
    """What the cost of an expression depends on besides its inputs."""

    length: int
    depth: int
    """Longest chain of macros that run inside, or on the result of, one another."""
    builds: bool
    """A ``map`` materialises a result per iteration, each some 30 times dearer to build."""
    copies: bool
    """A macro body reads an input, so each iteration may copy all of it."""

    def units(self, size: int) -> int:
        """Upper bound of the work on inputs of ``size`` JSON nodes and characters."""
        weight = _BUILD_WEIGHT if self.builds else 1
        exponent = self.depth + (1 if self.copies else 0)
        return weight * (size + self.length) ** exponent if self.depth else 0


def shape_of(source: str, roots: frozenset[str]) -> Shape:
    """The shape of ``source``; raise ValueError if it could grow beyond any budget."""
    code = _STRING.sub(lambda m: '""', source)  # macro names in string literals are text
    macros = list(_MACRO.finditer(code))
    if len(macros) > MAX_MACROS:
        raise ValueError(f"{len(macros)} comprehension macros; at most {MAX_MACROS}")
    depth = _macro_depth(code, [m.end() - 1 for m in macros])
    if depth > MAX_MACRO_DEPTH:
        raise ValueError(
            f"comprehension macros nested or chained {depth} deep; at most {MAX_MACRO_DEPTH}"
        )
    builds = any(m.group(1) == "map" for m in macros)
    closes = _matching_closes(code)
    bodies = (code[m.end() : closes.get(m.end() - 1, len(code))] for m in macros)
    copies = any(roots & set(re.findall(r"[A-Za-z_]\w*", body)) for body in bodies)
    return Shape(len(source), depth, builds, copies)


def _macro_depth(code: str, opens: list[int]) -> int:
    """Deepest nesting of macro calls, where a macro applied to a macro's result counts as
    nested in it (``l.map(x, x + x).map(...)`` doubles twice, like nesting)."""
    closes = _matching_closes(code)
    depth_at: dict[int, int] = {}
    deepest = 0
    for open_index in opens:
        # Enclosing macros: those whose parentheses contain this one.
        outer = [depth_at[o] for o in depth_at if o < open_index <= closes.get(o, len(code))]
        # Receivers: macros whose call ends just before this one's selector, in the same chain.
        chained = [
            depth_at[o]
            for o in depth_at
            if closes.get(o, len(code)) < open_index
            and not _SEPARATOR.search(code, closes.get(o, len(code)) + 1, open_index)
        ]
        depth_at[open_index] = 1 + max(outer + chained, default=0)
        deepest = max(deepest, depth_at[open_index])
    return deepest


def _matching_closes(code: str) -> dict[int, int]:
    stack: list[int] = []
    closes: dict[int, int] = {}
    for index, char in enumerate(code):
        if char in "([{":
            stack.append(index)
        elif char in ")]}" and stack:
            closes[stack.pop()] = index
    return closes


def size_of(values: Iterable[JsonValue]) -> int:
    """JSON nodes plus characters of strings: what a comprehension can iterate or copy."""
    total = 0
    pending = list(values)
    while pending:
        value = pending.pop()
        total += 1
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
            total += sum(len(k) for k in value)
        elif isinstance(value, list):
            pending.extend(value)
    return total
