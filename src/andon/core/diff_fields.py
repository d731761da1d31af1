"""The comparable fields of a template's parts, for ``template_diff``.

Each part (step, decision row, parameter, trigger) flattens to ordered ``name -> Field``:
what a reviewer reads, and a key that ignores what does not change meaning (spacing in
an expression, the order of a step's candidate roles or of a parallel step's branches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from andon.core.durations import format_duration
from andon.core.expressions import Expression
from andon.core.json import JsonObject, JsonValue, canonical_json
from andon.core.template import (
    ActionSpec,
    ApprovalSpec,
    DecideSpec,
    DurationRef,
    EndSpec,
    JoinSpec,
    ParallelSpec,
    Parameter,
    ParamRef,
    RoleRef,
    Rule,
    Step,
    TimerSpec,
    Trigger,
    WaitSpec,
)

# A CEL token: a quoted string (kept whole), a name or number, or one other character.
_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[A-Za-z0-9_.]+|\S")


@dataclass(frozen=True, slots=True)
class Field:
    shown: JsonValue
    """The value as a reviewer reads it (an expression's source as written)."""
    key: str
    """What is compared: two fields with the same key mean the same."""


Fields = dict[str, Field]


def plain(value: JsonValue) -> Field:
    return Field(value, canonical_json(value))


def unordered(values: list[str]) -> Field:
    """A list whose order carries no meaning: shown as written, compared sorted."""
    return Field([*values], canonical_json([*sorted(values)]))


def expression(expr: Expression) -> Field:
    """Compared token by token, so re-spacing or re-wrapping a condition is no change."""
    return Field(expr.source, " ".join(_TOKEN.findall(expr.source)))


def duration(value: DurationRef) -> Field:
    if isinstance(value, ParamRef):
        return plain(f"${value.name}")
    return plain(_span(value))


def role(value: RoleRef) -> str:
    return f"${value.name}" if isinstance(value, ParamRef) else value


def _span(value: timedelta) -> str:
    if value % timedelta(seconds=1):
        return f"{value.total_seconds()}s"
    return format_duration(value)


def step_fields(step: Step) -> Fields:
    """A step's fields; a decide step's rows are compared apart (``rule_fields``)."""
    out: Fields = {"kind": plain(step.kind)}
    if step.when is not None:
        out["when"] = expression(step.when)
    spec = step.spec
    if isinstance(spec, ActionSpec):
        out["action"] = plain(spec.action)
        for name in sorted(spec.inputs):
            out[f"input.{name}"] = expression(spec.inputs[name])
        retry = spec.retry
        out["retry.max_attempts"] = plain(retry.max_attempts)
        out["retry.initial"] = duration(retry.initial)
        out["retry.factor"] = plain(retry.factor)
        out["retry.max"] = duration(retry.max_delay)
        out["retry.jitter"] = plain(retry.jitter)
        if spec.timeout is not None:
            out["timeout"] = duration(spec.timeout)
    elif isinstance(spec, DecideSpec):
        out["hit"] = plain(spec.hit)
        if spec.default is not None:
            out["default"] = plain(spec.default)
    elif isinstance(spec, ApprovalSpec):
        _approval(spec, out)
    elif isinstance(spec, WaitSpec):
        out["event"] = plain(spec.event)
        out["key"] = expression(spec.key)
        if spec.timeout is not None:
            out["timeout"] = duration(spec.timeout)
        if spec.lookback is not None:
            out["lookback"] = duration(spec.lookback)
    elif isinstance(spec, TimerSpec):
        out["duration"] = duration(spec.duration)
    elif isinstance(spec, ParallelSpec):
        out["branches"] = unordered(list(spec.branches))  # all start at once
        out["join"] = plain(spec.join)
    elif isinstance(spec, EndSpec):
        out["outcome"] = plain(spec.outcome)
    else:
        assert isinstance(spec, JoinSpec)
    for name in ("next", "on_error", "on_timeout"):
        target = getattr(step, name)
        if target is not None:
            out[name] = plain(target)
    return out


def _approval(spec: ApprovalSpec, out: Fields) -> None:
    out["title"] = plain(spec.title)
    if spec.roles:
        out["roles"] = unordered([role(r) for r in spec.roles])
    if spec.roles_from is not None:
        out["roles_from"] = expression(spec.roles_from)
    out["quorum"] = plain(spec.quorum)
    if spec.quorum_from is not None:
        out["quorum_from"] = expression(spec.quorum_from)
    if spec.due_in is not None:
        out["due_in"] = duration(spec.due_in)
    # The ladder is climbed in order: a rung's position is part of its meaning.
    for index, rung in enumerate(spec.escalations):
        out[f"escalate[{index}].after"] = duration(rung.after)
        out[f"escalate[{index}].to"] = plain(role(rung.to))
    for outcome in sorted(spec.outcomes):
        out[f"outcomes.{outcome}"] = plain(spec.outcomes[outcome])
    if spec.signature is not None:
        out["signature.meaning"] = plain(spec.signature.meaning)
        out["signature.reason_required"] = plain(spec.signature.reason_required)


def rule_fields(rule: Rule) -> Fields:
    out: Fields = {"when": expression(rule.when), "then": plain(rule.then)}
    if rule.next is not None:
        out["next"] = plain(rule.next)
    return out


def parameter_fields(param: Parameter) -> Fields:
    return {"type": plain(param.type.value), "default": plain(param.default)}


def trigger_fields(trigger: Trigger) -> Fields:
    out: Fields = {}
    if trigger.key is not None:
        out["key"] = expression(trigger.key)
    if trigger.when is not None:
        out["when"] = expression(trigger.when)
    return out


def values_fields(values: JsonObject) -> Fields:
    """Parameter values (an overlay's, or resolved for a plant), by name."""
    return {name: plain(values[name]) for name in sorted(values)}
