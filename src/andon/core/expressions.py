"""Conditions and mappings in CEL, behind a small interface of ours.

Expressions are compiled once (and cached); evaluation has no access to Python and always
terminates. ``check`` evaluates an expression against typed sample values so that type
errors and unknown fields surface when a template is validated, not when a run hits them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import cel

from andon.core.celbudget import MAX_UNITS, Shape, count_of, shape_of, size_of
from andon.core.json import JsonValue, is_json
from andon.errors import ExpressionError

MAX_SOURCE_CHARS = 4096
ROOTS = frozenset({"input", "params", "steps", "event", "run"})
# What evaluation raises besides KeyError: type and parse errors, division by zero and
# integer overflow (ArithmeticError), a list index out of range (IndexError).
_EVAL_ERRORS = (TypeError, ValueError, RuntimeError, ArithmeticError, IndexError)
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """A compiled CEL expression."""

    source: str
    program: object
    variables: frozenset[str]
    shape: Shape
    path: tuple[str, ...] | None = None
    """Set for a plain field selection such as ``input.lot``: most mappings in templates
    are just that, and walking the dicts costs a fraction of a CEL evaluation."""

    def evaluate(self, context: Mapping[str, JsonValue]) -> JsonValue:
        """Evaluate against ``context``; the result must be JSON-shaped."""
        if self.path is not None and self.path[0] in context:
            return self._select(context)
        over = self.over_budget(context)
        if over is not None:
            raise ExpressionError(f"{self.source!r}: {over}")
        try:
            result = self.program.execute(dict(context))  # type: ignore[attr-defined]
        except KeyError as exc:
            raise ExpressionError(f"{self.source!r}: no such field {exc.args[0]!r}") from None
        except _EVAL_ERRORS as exc:
            raise ExpressionError(f"{self.source!r}: {_first_line(exc)}") from None
        if not is_json(result):
            raise ExpressionError(
                f"{self.source!r}: result of type {type(result).__name__} is not a JSON value"
            )
        return result  # type: ignore[no-any-return]

    def over_budget(self, context: Mapping[str, JsonValue]) -> str | None:
        """Why evaluating on ``context`` could take too long, or None; checked first
        because the binding cannot be interrupted once it runs."""
        if not self.shape.depth:
            return None
        used = [context[name] for name in self.variables if name in context]
        size, count = size_of(used), count_of(used)
        walked = size_of(context[name] for name in self.shape.walks if name in context)
        units = self.shape.units(size, count, walked)
        if units <= MAX_UNITS:
            return None
        return (
            f"too costly to evaluate: comprehensions over inputs of size {size} (lists of up "
            f"to {count} elements) bound the work at {units} units, more than {MAX_UNITS}"
        )

    def _select(self, context: Mapping[str, JsonValue]) -> JsonValue:
        assert self.path is not None
        value: JsonValue = context[self.path[0]]
        for name in self.path[1:]:
            if not isinstance(value, dict):
                kind = "null" if value is None else type(value).__name__
                raise ExpressionError(f"{self.source!r}: cannot select {name!r} from a {kind}")
            if name not in value:
                raise ExpressionError(f"{self.source!r}: no such field {name!r}")
            value = value[name]
        return value

    def test(self, context: Mapping[str, JsonValue]) -> bool:
        """Evaluate a condition; anything but a boolean is an error."""
        result = self.evaluate(context)
        if not isinstance(result, bool):
            raise ExpressionError(f"{self.source!r}: condition gave {result!r}, not a boolean")
        return result

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def compile_expression(source: str) -> Expression:
    """Compile ``source``; raise ExpressionError with the parser's message."""
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionError(f"expression is {len(source)} characters; at most {MAX_SOURCE_CHARS}")
    return _compile_cached(source)


@lru_cache(maxsize=4096)
def _compile_cached(source: str) -> Expression:
    try:
        shape = shape_of(source, ROOTS)
    except ValueError as exc:
        raise ExpressionError(f"{exc} in {source[:80]!r}") from None
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise ExpressionError(f"syntax error in {source!r}: {_parser_message(exc)}") from None
    variables = frozenset(program.variables())
    stripped = source.strip()
    path = None
    if _FIELD_PATH.fullmatch(stripped) and stripped.split(".")[0] in ROOTS:
        path = tuple(stripped.split("."))
    return Expression(source, program, variables, shape, path)


def check(expression: Expression, sample: Mapping[str, JsonValue]) -> str | None:
    """Return a type problem found by evaluating on ``sample``, or None.

    Only expressions whose roots all appear in ``sample`` are evaluated: for the others
    (outputs of actions, event payloads) no types are known before a run.
    """
    unknown_roots = expression.variables - ROOTS - _comprehension_names(expression.source)
    if unknown_roots:
        return f"unknown name {sorted(unknown_roots)[0]!r} (use one of {', '.join(sorted(ROOTS))})"
    if not expression.variables <= set(sample) | _comprehension_names(expression.source):
        return None
    over = expression.over_budget(sample)
    if over is not None:
        return over
    try:
        expression.program.execute(dict(sample))  # type: ignore[attr-defined]
    except KeyError as exc:
        return f"unknown field {exc.args[0]!r}"
    except (ArithmeticError, IndexError):
        return None  # depends on the sample's values (1 / (qty - 1)), not on types
    except _EVAL_ERRORS as exc:
        message = _first_line(exc)
        if "no such overload" in message.lower():
            return (
                f"type error: no such overload ({message.split(':')[0]}) in {expression.source!r}"
            )
        return message
    return None


def _comprehension_names(source: str) -> frozenset[str]:
    """Names bound by macros like ``all(x, ...)``; the binding reports them as variables."""
    names = set()
    for macro in (".all(", ".exists(", ".exists_one(", ".map(", ".filter("):
        start = 0
        while (index := source.find(macro, start)) >= 0:
            rest = source[index + len(macro) :]
            name = rest.split(",", 1)[0].strip()
            if name.isidentifier():
                names.add(name)
            start = index + 1
    return frozenset(names)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _parser_message(exc: BaseException) -> str:
    text = str(exc)
    marker = "ERROR: <input>:"
    if marker in text:
        text = text.split(marker, 1)[1]
        return "at " + text.splitlines()[0].strip()
    return _first_line(exc)
