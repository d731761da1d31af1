"""Build a ``Template`` from YAML, reporting every problem with its path and line.

Validation runs whole: it does not stop at the first mistake, so an author fixes a file in
one pass. Structural graph checks (dangling ``next``, unreachable steps, cycles that never
wait) run only on steps that parsed.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Literal, TypeVar, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from andon.core import expressions, graph
from andon.core import loader_governance as governance
from andon.core.durations import parse_duration
from andon.core.json import JsonObject, JsonValue
from andon.core.params import cel_view, sample_from_schema
from andon.core.template import (
    ActionSpec,
    ApprovalSpec,
    DecideSpec,
    DurationRef,
    EndSpec,
    Escalation,
    JoinSpec,
    ParallelSpec,
    Parameter,
    ParamRef,
    ParamType,
    Quorum,
    RetryPolicy,
    RoleRef,
    Rule,
    Step,
    StepSpec,
    Template,
    TimerSpec,
    Trigger,
    WaitSpec,
)
from andon.core.yamlsource import Located, parse_yaml
from andon.errors import ExpressionError, Problem, TemplateError

ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
TEMPLATE_ID_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,62}")
EVENT_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")

TOP_KEYS = (
    "id",
    "version",
    "title",
    "description",
    "parameters",
    "roles",
    "input",
    "triggers",
    "steps",
    "regulated",
    "duties",
    "retention",
)
COMMON_STEP_KEYS = ("id", "kind", "title", "description", "when", "next", "on_error", "on_timeout")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "action": ("action", "input", "retry", "timeout"),
    "decide": ("hit", "rules", "default"),
    "approval": (
        "roles",
        "roles_from",
        "quorum",
        "quorum_from",
        "due_in",
        "escalate",
        "outcomes",
        "signature",
    ),
    "wait": ("event", "key", "timeout", "lookback"),
    "timer": ("duration",),
    "parallel": ("branches", "join"),
    "join": (),
    "end": ("outcome",),
}
WAITING_KINDS = frozenset({"approval", "wait", "timer"})
RETRY_KEYS = ("max_attempts", "initial", "factor", "max", "jitter")
PARAM_KEYS = ("type", "default", "description")

T = TypeVar("T")


class _Report:
    """Collects problems with the line each path came from."""

    def __init__(self, source: str, located: Located) -> None:
        self.source = source
        self.located = located
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        line = self.located.line_of(path)
        self.problems.append(Problem(path, message, self.source, line))

    def keys(self, node: Mapping[str, JsonValue], allowed: tuple[str, ...], path: str) -> None:
        for key in node:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.add(_join(path, key), f"unknown field '{key}'{suggestion}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load_template(text: str, source: str = "") -> Template:
    """Parse and validate a template; raise TemplateError listing every problem."""
    template, problems = validate_text(text, source)
    if problems or template is None:
        raise TemplateError(problems)
    return template


def validate_text(text: str, source: str = "") -> tuple[Template | None, list[Problem]]:
    """Return the template (when valid) and every problem found."""
    located, problems = parse_yaml(text, source)
    if located is None:
        return None, problems
    report = _Report(source, located)
    report.problems.extend(problems)
    doc = located.value
    if not isinstance(doc, dict):
        report.add("", "a template must be a mapping with id, version and steps")
        return None, report.problems
    template = _build(doc, report, hashlib.sha256(text.encode()).hexdigest())
    return (template if not report.problems else None), report.problems


def _build(doc: JsonObject, report: _Report, digest: str) -> Template | None:
    report.keys(doc, TOP_KEYS, "")
    template_id = _require(doc, "id", str, "", report)
    if template_id is not None and not TEMPLATE_ID_PATTERN.fullmatch(template_id):
        report.add("id", f"'{template_id}' must be lower-case letters, digits and '-'")
    version = _require(doc, "version", int, "", report)
    if version is not None and version < 1:
        report.add("version", "must be a positive integer")
    title = doc.get("title", template_id or "")
    roles = _roles(doc.get("roles", []), report)
    params = _parameters(doc.get("parameters", {}), roles, report)
    input_schema = _input_schema(doc.get("input", {"type": "object"}), report)
    sample: dict[str, JsonValue] = {
        "input": sample_from_schema(input_schema),
        "params": cel_view({p.name: p.default for p in params.values()}, params),
    }
    ctx = _Context(report, params, roles, sample)
    triggers = _triggers(doc.get("triggers", []), ctx)
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        report.add("steps", "a template needs a non-empty list of steps")
        return None
    steps = _steps(raw_steps, ctx)
    if not steps:
        return None
    join_owner = _check_graph(steps, raw_steps, report)
    duty_rules = governance.duties(doc.get("duties"), roles, steps, report.add)
    is_regulated = governance.regulated(doc.get("regulated", False), report.add)
    retention = governance.retention(doc.get("retention", "standard"), report.add)
    if report.problems or template_id is None or version is None:
        return None
    return Template(
        id=template_id,
        version=version,
        title=str(title),
        parameters=params,
        roles=frozenset(roles),
        input_schema=input_schema,
        triggers=triggers,
        steps=steps,
        start=next(iter(steps)),
        digest=digest,
        join_owner=join_owner,
        duties=duty_rules,
        regulated=is_regulated,
        retention=retention,
    )


def _require(
    node: Mapping[str, JsonValue], key: str, kind: type[T], path: str, report: _Report
) -> T | None:
    if key not in node:
        report.add(_join(path, key) if path else key, f"missing required field '{key}'")
        return None
    return _typed(node[key], kind, _join(path, key), report)


def _typed(value: JsonValue, kind: type[T], path: str, report: _Report) -> T | None:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return cast(T, float(value))
    if not ok:
        names = {
            str: "a string",
            int: "an integer",
            float: "a number",
            list: "a list",
            dict: "a mapping",
            bool: "true or false",
        }
        report.add(path, f"must be {names.get(kind, kind.__name__)}, got {value!r}")
        return None
    return cast(T, value)


def _roles(raw: JsonValue, report: _Report) -> set[str]:
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        report.add("roles", "must be a list of role names")
        return set()
    return {str(r) for r in raw}


def _parameters(raw: JsonValue, roles: set[str], report: _Report) -> dict[str, Parameter]:
    if not isinstance(raw, dict):
        report.add("parameters", "must be a mapping of name -> {type, default}")
        return {}
    out: dict[str, Parameter] = {}
    for name, spec in raw.items():
        path = f"parameters.{name}"
        if not ID_PATTERN.fullmatch(name):
            report.add(path, f"parameter name '{name}' must match {ID_PATTERN.pattern}")
        if not isinstance(spec, dict):
            report.add(path, "must be a mapping with 'type' and 'default'")
            continue
        report.keys(spec, PARAM_KEYS, path)
        type_name = _require(spec, "type", str, path, report)
        if type_name is None:
            continue
        try:
            param_type = ParamType(type_name)
        except ValueError:
            allowed = ", ".join(t.value for t in ParamType)
            report.add(f"{path}.type", f"unknown parameter type '{type_name}' (use {allowed})")
            continue
        if "default" not in spec:
            report.add(f"{path}.default", "missing required field 'default'")
            continue
        problem = check_param_value(param_type, spec["default"], roles)
        if problem:
            report.add(f"{path}.default", problem)
            continue
        out[name] = Parameter(name, param_type, spec["default"], str(spec.get("description", "")))
    return out


def check_param_value(kind: ParamType, value: JsonValue, roles: set[str] | None) -> str | None:
    """Return why ``value`` is not a valid ``kind`` parameter value, or None."""
    if kind in (ParamType.STRING, ParamType.ROLE) and not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if kind is ParamType.ROLE and roles is not None and value not in roles:
        return f"undefined role '{value}' (declare it under 'roles')"
    if kind is ParamType.NUMBER and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"must be a number, got {value!r}"
    if kind is ParamType.BOOLEAN and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if kind is ParamType.LIST and not isinstance(value, list):
        return f"must be a list, got {value!r}"
    if kind is ParamType.DURATION:
        if not isinstance(value, str):
            return f"must be a duration such as '4h', got {value!r}"
        try:
            parse_duration(value)
        except ValueError as exc:
            return str(exc)
    if kind is ParamType.MONEY:
        return _money_problem(value)
    return None


def _money_problem(value: JsonValue) -> str | None:
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        return "money must be {amount: '1000.00', currency: 'EUR'}"
    currency, amount = value["currency"], value["amount"]
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        return f"currency must be an ISO 4217 code like 'EUR', got {currency!r}"
    try:
        float(str(amount))
    except ValueError:
        return f"amount must be a decimal number, got {amount!r}"
    return None


def _input_schema(raw: JsonValue, report: _Report) -> JsonObject:
    if not isinstance(raw, dict):
        report.add("input", "must be a JSON Schema object")
        return {"type": "object"}
    try:
        Draft202012Validator.check_schema(raw)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        report.add(
            _join("input", where) if where else "input", f"invalid JSON Schema: {exc.message}"
        )
    return raw


class _Context:
    """What step parsing needs besides the step itself."""

    def __init__(
        self,
        report: _Report,
        params: dict[str, Parameter],
        roles: set[str],
        sample: dict[str, JsonValue],
    ) -> None:
        self.report = report
        self.params = params
        self.roles = roles
        self.sample = sample
        self.decide_samples: dict[str, JsonValue] = {}

    def expression(
        self, value: JsonValue, path: str, *, condition: bool = False
    ) -> expressions.Expression | None:
        if isinstance(value, bool) and condition:
            value = "true" if value else "false"
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = repr(value)
        if not isinstance(value, str):
            self.report.add(path, f"must be a CEL expression string, got {value!r}")
            return None
        try:
            expr = expressions.compile_expression(value)
        except ExpressionError as exc:
            self.report.add(path, str(exc))
            return None
        sample = dict(self.sample)
        steps_sample = self._steps_sample(value)
        if steps_sample is not None:
            sample["steps"] = steps_sample
        problem = expressions.check(expr, sample)
        if problem is None and condition and expr.variables <= set(sample):
            try:
                result = expr.evaluate(sample)
            except ExpressionError:
                result = True
            if not isinstance(result, bool):
                problem = f"a condition must give true or false, got {result!r}"
        if problem:
            self.report.add(path, problem)
        return expr

    def _steps_sample(self, source: str) -> JsonValue | None:
        names = set(re.findall(r"steps\.([a-z][a-z0-9_]*)", source))
        if not names or not names <= set(self.decide_samples):
            return None
        return {n: {"output": self.decide_samples[n], "status": "done"} for n in names}

    def duration(self, value: JsonValue, path: str) -> DurationRef | None:
        if isinstance(value, str) and value.startswith("$"):
            return self._ref(value, path, ParamType.DURATION)
        if not isinstance(value, str):
            self.report.add(path, f"must be a duration such as '4h', got {value!r}")
            return None
        try:
            result = parse_duration(value)
        except ValueError as exc:
            self.report.add(path, str(exc))
            return None
        if result <= timedelta(0):
            self.report.add(path, "must be longer than zero")
        return result

    def role(self, value: JsonValue, path: str) -> RoleRef | None:
        if isinstance(value, str) and value.startswith("$"):
            return self._ref(value, path, ParamType.ROLE)
        if not isinstance(value, str):
            self.report.add(path, f"must be a role name, got {value!r}")
            return None
        if value not in self.roles:
            self.report.add(path, f"undefined role '{value}' (declare it under 'roles')")
            return None
        return value

    def _ref(self, value: str, path: str, kind: ParamType) -> ParamRef | None:
        name = value[1:]
        param = self.params.get(name)
        if param is None:
            self.report.add(path, f"undefined parameter '{name}'")
            return None
        if param.type is not kind:
            self.report.add(path, f"parameter '{name}' is a {param.type}, not a {kind}")
            return None
        return ParamRef(name)


def _triggers(raw: JsonValue, ctx: _Context) -> tuple[Trigger, ...]:
    if not isinstance(raw, list):
        ctx.report.add("triggers", "must be a list of {event, key}")
        return ()
    out = []
    for index, item in enumerate(raw):
        path = f"triggers[{index}]"
        if not isinstance(item, dict):
            ctx.report.add(path, "must be a mapping with 'event'")
            continue
        ctx.report.keys(item, ("event", "key", "when"), path)
        event = _require(item, "event", str, path, ctx.report)
        if event is not None and not EVENT_TYPE_PATTERN.fullmatch(event):
            ctx.report.add(f"{path}.event", f"'{event}' is not a dotted event type")
        key, when = item.get("key"), item.get("when")
        out.append(
            Trigger(
                event or "",
                ctx.expression(key, f"{path}.key") if key is not None else None,
                _trigger_condition(when, f"{path}.when", ctx) if when is not None else None,
            )
        )
    return tuple(out)


def _trigger_condition(value: JsonValue, path: str, ctx: _Context) -> expressions.Expression | None:
    """A trigger's condition sees only the event's data, as ``input``."""
    expr = ctx.expression(value, path, condition=True)
    if expr is not None and not expr.variables & expressions.ROOTS <= {"input"}:
        ctx.report.add(path, "a trigger's condition may only read 'input' (the event's data)")
    return expr


def _steps(raw_steps: list[JsonValue], ctx: _Context) -> dict[str, Step]:
    ids: list[str | None] = []
    for raw in raw_steps:
        step_id = raw.get("id") if isinstance(raw, dict) else None
        ids.append(step_id if isinstance(step_id, str) else None)
    steps: dict[str, Step] = {}
    # Decide steps are parsed first so later expressions can be type-checked against their
    # outputs whatever the step order.
    order = sorted(range(len(raw_steps)), key=lambda i: _kind_of(raw_steps[i]) != "decide")
    parsed: dict[int, Step] = {}
    for index in order:
        step = _step(raw_steps[index], index, ids, ctx)
        if step is not None:
            parsed[index] = step
    for index in sorted(parsed):
        step = parsed[index]
        if step.id in steps:
            ctx.report.add(f"steps[{index}].id", f"duplicate step id '{step.id}'")
            continue
        steps[step.id] = step
    return steps


def _decide_sample(spec: DecideSpec) -> JsonValue:
    """Every key any row (or the default) can output, so expressions reading a key that only
    some rows give are not reported as unknown fields."""
    merged: JsonObject = {}
    for then in [*(r.then for r in spec.rules), spec.default or {}]:
        for key, value in then.items():
            merged.setdefault(key, value)
    return merged if spec.hit == "first" else {"results": [merged]}


def _kind_of(raw: JsonValue) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("kind"), str):
        return str(raw["kind"])
    return None


def _step(raw: JsonValue, index: int, ids: list[str | None], ctx: _Context) -> Step | None:
    path = f"steps[{index}]"
    report = ctx.report
    if not isinstance(raw, dict):
        report.add(path, "a step must be a mapping with 'id' and 'kind'")
        return None
    step_id = _require(raw, "id", str, path, report)
    if step_id is not None and not ID_PATTERN.fullmatch(step_id):
        report.add(f"{path}.id", f"step id '{step_id}' must match {ID_PATTERN.pattern}")
    kind = _require(raw, "kind", str, path, report)
    if kind is None:
        return None
    if kind not in KIND_KEYS:
        report.add(f"{path}.kind", f"unknown step kind '{kind}' (use {', '.join(KIND_KEYS)})")
        return None
    report.keys(raw, COMMON_STEP_KEYS + KIND_KEYS[kind], path)
    known = {i for i in ids if i}
    links: dict[str, str | None] = {}
    for key in ("next", "on_error", "on_timeout"):
        target = raw.get(key)
        if target is None:
            links[key] = None
        elif not isinstance(target, str) or target not in known:
            report.add(f"{path}.{key}", f"'{key}' points to unknown step {target!r}")
            links[key] = None
        else:
            links[key] = target
    # A dangling `next` (already reported) is treated as falling through, so one typo does
    # not also report every later step as unreachable.
    falls_through = "next" not in raw or (raw["next"] is not None and links["next"] is None)
    if (
        links["next"] is None
        and falls_through
        and kind not in ("end", "parallel")
        and index + 1 < len(ids)
    ):
        links["next"] = ids[index + 1]  # steps fall through to the one below
    when = ctx.expression(raw["when"], f"{path}.when", condition=True) if "when" in raw else None
    builders: dict[str, Callable[[JsonObject, str, _Context, set[str]], StepSpec | None]] = {
        "action": _action,
        "decide": _decide,
        "approval": _approval,
        "wait": _wait,
        "timer": _timer,
        "parallel": _parallel,
        "join": lambda *_: JoinSpec(),
        "end": _end,
    }
    spec = builders[kind](raw, path, ctx, known)
    if isinstance(spec, DecideSpec) and step_id:
        ctx.decide_samples[step_id] = _decide_sample(spec)
    if kind == "end" and raw.get("next") is not None:
        report.add(f"{path}.next", "an end step cannot have 'next'")
    if kind == "wait" and "timeout" in raw and links["on_timeout"] is None:
        report.add(f"{path}.on_timeout", "a wait with a timeout needs 'on_timeout'")
    if spec is None or step_id is None:
        return None
    return Step(step_id, kind, spec, when, links["next"], links["on_error"], links["on_timeout"])


def _action(raw: JsonObject, path: str, ctx: _Context, known: set[str]) -> ActionSpec | None:
    name = _require(raw, "action", str, path, ctx.report)
    inputs: dict[str, expressions.Expression] = {}
    mapping = raw.get("input", {})
    if not isinstance(mapping, dict):
        ctx.report.add(f"{path}.input", "must be a mapping of name -> CEL expression")
        mapping = {}
    for key, source in mapping.items():
        expr = ctx.expression(source, f"{path}.input.{key}")
        if expr is not None:
            inputs[key] = expr
    retry = _retry(raw.get("retry", {}), f"{path}.retry", ctx)
    timeout = ctx.duration(raw["timeout"], f"{path}.timeout") if "timeout" in raw else None
    if name is None or retry is None:
        return None
    return ActionSpec(name, inputs, retry, timeout)


def _retry(raw: JsonValue, path: str, ctx: _Context) -> RetryPolicy | None:
    if not isinstance(raw, dict):
        ctx.report.add(path, "must be a mapping (max_attempts, initial, factor, max, jitter)")
        return None
    ctx.report.keys(raw, RETRY_KEYS, path)
    policy = RetryPolicy()
    attempts = _typed(
        raw.get("max_attempts", policy.max_attempts), int, f"{path}.max_attempts", ctx.report
    )
    if attempts is not None and not 1 <= attempts <= 100:
        ctx.report.add(f"{path}.max_attempts", "must be between 1 and 100")
    factor = _typed(raw.get("factor", policy.factor), float, f"{path}.factor", ctx.report)
    if factor is not None and not 1 <= factor <= 10:
        ctx.report.add(f"{path}.factor", "must be between 1 and 10")
    jitter = _typed(raw.get("jitter", policy.jitter), float, f"{path}.jitter", ctx.report)
    if jitter is not None and not 0 <= jitter <= 1:
        ctx.report.add(f"{path}.jitter", "must be between 0 and 1")
    initial = ctx.duration(raw["initial"], f"{path}.initial") if "initial" in raw else None
    maximum = ctx.duration(raw["max"], f"{path}.max") if "max" in raw else None
    for key, value in (("initial", initial), ("max", maximum)):
        if isinstance(value, ParamRef):
            ctx.report.add(f"{path}.{key}", "retry delays must be literal durations")
    return RetryPolicy(
        max_attempts=policy.max_attempts if attempts is None else attempts,
        initial=initial if isinstance(initial, timedelta) else policy.initial,
        factor=policy.factor if factor is None else factor,
        max_delay=maximum if isinstance(maximum, timedelta) else policy.max_delay,
        jitter=policy.jitter if jitter is None else jitter,
    )


def _decide(raw: JsonObject, path: str, ctx: _Context, known: set[str]) -> DecideSpec | None:
    hit = raw.get("hit", "first")
    if hit not in ("first", "collect"):
        ctx.report.add(f"{path}.hit", f"must be 'first' or 'collect', got {hit!r}")
        return None
    rows = raw.get("rules")
    if not isinstance(rows, list) or not rows:
        ctx.report.add(f"{path}.rules", "a decide step needs a non-empty list of rules")
        return None
    rules: list[Rule] = []
    for index, row in enumerate(rows):
        row_path = f"{path}.rules[{index}]"
        if not isinstance(row, dict):
            ctx.report.add(row_path, "a rule must be a mapping with 'when' and 'then'")
            continue
        ctx.report.keys(row, ("id", "when", "then", "next"), row_path)
        when = ctx.expression(row.get("when", True), f"{row_path}.when", condition=True)
        then = _typed(row.get("then", {}), dict, f"{row_path}.then", ctx.report)
        target = row.get("next")
        if target is not None and (not isinstance(target, str) or target not in known):
            ctx.report.add(f"{row_path}.next", f"'next' points to unknown step {target!r}")
            target = None
        if target is not None and hit == "collect":
            ctx.report.add(f"{row_path}.next", "only first-hit tables can route with 'next'")
        if when is not None and then is not None:
            rules.append(
                Rule(
                    str(row.get("id", f"r{index + 1}")),
                    when,
                    then,
                    target if isinstance(target, str) else None,
                )
            )
    default = raw.get("default")
    if default is not None and not isinstance(default, dict):
        ctx.report.add(f"{path}.default", "must be a mapping like a rule's 'then'")
        default = None
    return DecideSpec(cast(Literal["first", "collect"], hit), tuple(rules), default)


def _approval(raw: JsonObject, path: str, ctx: _Context, known: set[str]) -> ApprovalSpec | None:
    roles: list[RoleRef] = []
    raw_roles = raw.get("roles", [])
    if not isinstance(raw_roles, list):
        ctx.report.add(f"{path}.roles", "must be a list of role names")
        raw_roles = []
    for index, item in enumerate(raw_roles):
        role = ctx.role(item, f"{path}.roles[{index}]")
        if role is not None:
            roles.append(role)
    roles_from = (
        ctx.expression(raw["roles_from"], f"{path}.roles_from") if "roles_from" in raw else None
    )
    if not raw_roles and roles_from is None:
        ctx.report.add(f"{path}.roles", "an approval needs 'roles' or 'roles_from'")
    quorum_raw = raw.get("quorum", "any")
    quorum: Quorum = "any"
    if quorum_raw in ("any", "all"):
        quorum = cast(Quorum, quorum_raw)
    elif isinstance(quorum_raw, int) and not isinstance(quorum_raw, bool) and quorum_raw >= 1:
        quorum = quorum_raw
    else:
        ctx.report.add(
            f"{path}.quorum", f"must be 'any', 'all' or a count >= 1, got {quorum_raw!r}"
        )
    quorum_from = (
        ctx.expression(raw["quorum_from"], f"{path}.quorum_from") if "quorum_from" in raw else None
    )
    due_in = ctx.duration(raw["due_in"], f"{path}.due_in") if "due_in" in raw else None
    escalations = _escalations(raw.get("escalate", []), f"{path}.escalate", ctx)
    outcomes = _outcomes(raw.get("outcomes"), f"{path}.outcomes", ctx, known)
    title = str(raw.get("title", raw.get("id", "")))
    signature = governance.signature(raw.get("signature"), f"{path}.signature", ctx.report.add)
    return ApprovalSpec(
        title,
        tuple(roles),
        roles_from,
        quorum,
        quorum_from,
        due_in,
        escalations,
        outcomes,
        signature,
    )


def _escalations(raw: JsonValue, path: str, ctx: _Context) -> tuple[Escalation, ...]:
    if not isinstance(raw, list):
        ctx.report.add(path, "must be a list of {after, to}")
        return ()
    out = []
    for index, item in enumerate(raw):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            ctx.report.add(item_path, "must be a mapping with 'after' and 'to'")
            continue
        ctx.report.keys(item, ("after", "to"), item_path)
        after = ctx.duration(item.get("after"), f"{item_path}.after")
        to = ctx.role(item.get("to"), f"{item_path}.to")
        if after is not None and to is not None:
            out.append(Escalation(after, to))
    return tuple(out)


def _outcomes(raw: JsonValue, path: str, ctx: _Context, known: set[str]) -> dict[str, str | None]:
    if raw is None:
        return {"approve": None, "reject": None}
    if not isinstance(raw, dict) or not raw:
        ctx.report.add(path, "must map outcome names to step ids (or null for 'next')")
        return {}
    out: dict[str, str | None] = {}
    for name, target in raw.items():
        if not ID_PATTERN.fullmatch(name):
            ctx.report.add(
                f"{path}.{name}", f"outcome name '{name}' must match {ID_PATTERN.pattern}"
            )
        if target is not None and (not isinstance(target, str) or target not in known):
            ctx.report.add(f"{path}.{name}", f"outcome '{name}' points to unknown step {target!r}")
            continue
        out[name] = target if isinstance(target, str) else None
    if "approve" not in out:
        ctx.report.add(path, "outcomes must include 'approve'")
    return out


def _wait(raw: JsonObject, path: str, ctx: _Context, known: set[str]) -> WaitSpec | None:
    event = _require(raw, "event", str, path, ctx.report)
    if event is not None and not EVENT_TYPE_PATTERN.fullmatch(event):
        ctx.report.add(f"{path}.event", f"'{event}' is not a dotted event type like 'supplier.x'")
    key = ctx.expression(raw["key"], f"{path}.key") if "key" in raw else None
    if "key" not in raw:
        ctx.report.add(f"{path}.key", "a wait needs a correlation 'key' expression")
    timeout = ctx.duration(raw["timeout"], f"{path}.timeout") if "timeout" in raw else None
    lookback = ctx.duration(raw["lookback"], f"{path}.lookback") if "lookback" in raw else None
    if event is None or key is None:
        return None
    return WaitSpec(event, key, timeout, lookback)


def _timer(raw: JsonObject, path: str, ctx: _Context, known: set[str]) -> TimerSpec | None:
    if "duration" not in raw:
        ctx.report.add(f"{path}.duration", "a timer needs a 'duration'")
        return None
    duration = ctx.duration(raw["duration"], f"{path}.duration")
    return TimerSpec(duration) if duration is not None else None


def _parallel(raw: JsonObject, path: str, ctx: _Context, known: set[str]) -> ParallelSpec | None:
    branches = raw.get("branches")
    if not isinstance(branches, list) or len(branches) < 2:
        ctx.report.add(f"{path}.branches", "a parallel step needs at least two branch step ids")
        return None
    good = True
    for index, target in enumerate(branches):
        if not isinstance(target, str) or target not in known:
            ctx.report.add(f"{path}.branches[{index}]", f"unknown step {target!r}")
            good = False
    join = raw.get("join")
    if not isinstance(join, str) or join not in known:
        ctx.report.add(f"{path}.join", f"'join' points to unknown step {join!r}")
        good = False
    if not good:
        return None
    return ParallelSpec(tuple(str(b) for b in branches), str(join))


def _end(raw: JsonObject, path: str, ctx: _Context, known: set[str]) -> EndSpec | None:
    outcome = raw.get("outcome", "completed")
    if not isinstance(outcome, str) or not ID_PATTERN.fullmatch(outcome):
        ctx.report.add(f"{path}.outcome", f"outcome must match {ID_PATTERN.pattern}")
        return None
    return EndSpec(outcome)


def _check_graph(
    steps: dict[str, Step], raw_steps: list[JsonValue], report: _Report
) -> dict[str, str]:
    index_of = {
        str(raw["id"]): i
        for i, raw in enumerate(raw_steps)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str)
    }
    start = next(iter(steps))
    successors = {sid: [s for s in step.successors() if s in steps] for sid, step in steps.items()}
    reachable = graph.reachable(start, successors)
    for sid in steps:
        if sid not in reachable:
            report.add(f"steps[{index_of[sid]}].id", f"step '{sid}' is unreachable from '{start}'")
    for cycle in graph.cycles(successors):
        if not any(steps[s].kind in WAITING_KINDS for s in cycle):
            first = min(cycle, key=lambda s: index_of[s])
            report.add(
                f"steps[{index_of[first]}].next",
                f"cycle {' -> '.join(cycle)} never waits (add a wait, timer or approval)",
            )
    join_owner: dict[str, str] = {}
    for sid, step in steps.items():
        if isinstance(step.spec, ParallelSpec):
            join = step.spec.join
            path = f"steps[{index_of[sid]}].join"
            if steps[join].kind != "join":
                report.add(path, f"'{join}' is a {steps[join].kind} step, not a join")
            elif join in join_owner:
                report.add(path, f"join '{join}' already closes parallel '{join_owner[join]}'")
            else:
                join_owner[join] = sid
            for branch in step.spec.branches:
                if join not in graph.reachable(branch, successors):
                    report.add(path, f"branch '{branch}' never reaches join '{join}'")
    for sid, step in steps.items():
        if step.kind == "join" and sid not in join_owner:
            report.add(f"steps[{index_of[sid]}].kind", f"join '{sid}' closes no parallel step")
    return join_owner
