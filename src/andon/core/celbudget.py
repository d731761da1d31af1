"""A cost bound for CEL expressions, computed from their shape, never timed.

The CEL binding has no cost or recursion limit and holds the GIL while it runs, so one
hostile expression (comprehensions nested over a list, or chained so that each doubles the
last result) froze the whole process for minutes. Growth in CEL comes only from the
comprehension macros: without them an expression does work linear in its length and the
size of its inputs. So the shape is bounded when a template is loaded (how many macros,
how deeply nested or chained) and the work is bounded before each evaluation from two
measures of the inputs: their ``size`` (JSON nodes and characters: what a body can copy or
compare) and their ``count`` (the longest list or map: what a macro can iterate).

A macro iterates at most ``count + length`` elements (literals are part of the source),
times one plus the ``+`` signs in its receiver (list concatenation). It runs once per
iteration of each macro it is nested in or chained after, and each iteration costs the
body's length, or the inputs' size if the body reads an input (``in`` on a list and
equality walk it). ``map`` and ``filter`` also copy their growing result on every
iteration in the binding (measured: a ``map`` over 8,000 integers took 2.6 s, over 1,000
took 60 ms): their accumulator costs the square of the elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from andon.core.json import JsonValue

MAX_MACROS = 8
MAX_MACRO_DEPTH = 2
MAX_UNITS = 1_500_000
"""About 30 ns a unit at worst in the binding (``map`` accumulators, measured on the CI
machine kind): a budgeted evaluation stays under 50 ms, so a request thread holding the GIL
for it does not stall the others for long."""

_BUILD_WEIGHT = 2
_WALK_WEIGHT = 3
_MACRO = re.compile(r"\.\s*(all|exists_one|exists|map|filter)\s*\(")
_BUILDERS = frozenset({"map", "filter"})
_SEPARATOR = re.compile(r"[\s,?:&|=<>!+\-*/%(]")
_RECEIVER_PART = re.compile(r"[\w.]")
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
    """A ``map`` or ``filter``: its accumulator is copied on every iteration."""
    walks: frozenset[str]
    """The inputs macro bodies read: each iteration may walk all of them (``in``, ``==``)."""
    concatenations: int = 0
    """Most ``+`` signs in one macro's receiver: each may append another list."""
    body_pluses: int = 0
    """``+`` signs in macro bodies: each may build a string or list per iteration."""

    def units(self, size: int, count: int | None = None, walked: int | None = None) -> int:
        """Upper bound of the work on inputs of ``size`` JSON nodes and characters whose
        longest list, map or string has ``count`` elements, where the inputs the bodies
        read (``walks``) have ``walked`` (both ``size`` when not known)."""
        if not self.depth:
            return 0
        longest = size if count is None else count
        # A literal list has at most one element per two characters of source.
        elements = (longest + self.length // 2) * (1 + self.concatenations)
        per_iteration = self.length + self.body_pluses * (longest + self.length)
        if self.walks:
            per_iteration += _WALK_WEIGHT * ((size if walked is None else walked) + self.length)
        work = int(elements**self.depth) * per_iteration  # int ** int is typed Any
        if self.builds:
            work += _BUILD_WEIGHT * int(elements ** (self.depth + 1))
        return work


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
    builds = any(m.group(1) in _BUILDERS for m in macros)
    closes = _matching_closes(code)
    bodies = _bodies(code, macros, closes)
    walks = roots & {name for body in bodies for name in re.findall(r"[A-Za-z_]\w*", body)}
    opens = {close: open_ for open_, close in closes.items()}
    concatenations = max((_receiver(code, m.start(), opens).count("+") for m in macros), default=0)
    in_bodies = {i for m in macros for i in range(m.end(), closes.get(m.end() - 1, len(code)))}
    body_pluses = sum(1 for i in in_bodies if code[i] == "+")  # nested bodies count once
    return Shape(len(source), depth, builds, walks, concatenations, body_pluses)


def _bodies(code: str, macros: list[re.Match[str]], closes: dict[int, int]) -> list[str]:
    """The argument text of each macro call (its variable and body)."""
    return [code[m.end() : closes.get(m.end() - 1, len(code))] for m in macros]


def _receiver(code: str, dot: int, opens: dict[int, int]) -> str:
    """The operand a macro is called on: the primary expression ending at ``dot``, such as
    ``input.lines``, ``[1, 2]``, ``(a + b)`` or an earlier macro call."""
    start = dot
    while start > 0:
        before = code[start - 1]
        if before in ")]}" and start - 1 in opens:
            start = opens[start - 1]
        elif _RECEIVER_PART.match(before):
            start -= 1
        elif before.isspace() and code[start] == ".":
            start -= 1  # `input .lines`
        else:
            break
    return code[start:dot]


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


def count_of(values: Iterable[JsonValue]) -> int:
    """The most elements of any one list or map, or characters of a string, in ``values``:
    what a macro can iterate, or one ``+`` copy."""
    most = 0
    pending = list(values)
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            most = max(most, len(value))
        elif isinstance(value, dict):
            most = max(most, len(value))
            pending.extend(value.values())
        elif isinstance(value, list):
            most = max(most, len(value))
            pending.extend(value)
    return most


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
