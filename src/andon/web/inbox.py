"""The inbox as the UI shows it: each open task with its SLA, why it reached this person
(the grant or delegation and the decision-table rows that chose the roles), the run's
context and the outcomes it can be decided with. Read-only views over service calls."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from andon.bootstrap import App
from andon.core.json import JsonObject, JsonValue
from andon.core.template import ApprovalSpec, DecideSpec, Template
from andon.errors import NotFoundError
from andon.governance.identity import Actor
from andon.store.base import RunRow, TaskRow

STEP_REF = re.compile(r"\bsteps\.([A-Za-z_][A-Za-z0-9_-]*)\.")


@dataclass(frozen=True, slots=True)
class Sla:
    text: str
    overdue: bool
    due_iso: str


@dataclass(frozen=True, slots=True)
class MatchedRow:
    step: str
    rule: str
    when: str
    then: str


@dataclass(frozen=True, slots=True)
class Card:
    task: TaskRow
    run: RunRow
    dom_id: str
    template_ref: str
    acting_as: str
    """How this person is a candidate: 'PS at DE-STR' or 'QA for u-7 (delegation)'."""
    sla: Sla | None
    roles_expr: str
    """The expression the step's roles come from ('' where the template lists them)."""
    matched: tuple[MatchedRow, ...]
    context: tuple[tuple[str, str], ...]
    outcomes: tuple[str, ...]
    signature: str | None
    """The meaning of the step's e-signature, None where the step is not signed."""
    reason_required: bool
    me: str
    decided: tuple[JsonObject, ...] = field(default=())
    """Decisions already recorded on this visit of the step (quorum progress)."""

    @property
    def mine(self) -> JsonObject | None:
        """My own decision on this task, if I already gave one."""
        return next((d for d in self.decided if d.get("actor") == self.me), None)


def dom_id(task_id: str) -> str:
    return "task-" + re.sub(r"[^A-Za-z0-9_-]", "-", task_id)


def candidacy(actor: Actor, task: TaskRow) -> str | None:
    """How ``actor`` may decide ``task`` (in person first, then by delegation), or None."""
    candidates = [*task.roles, *task.escalated_to]
    for role in candidates:
        grant = actor.grant_for(role, task.plant)
        if grant is not None:
            return f"{role} at {grant.site}" if grant.site else f"{role} (tenant-wide)"
    for role in candidates:
        delegation = actor.delegation_for(role, task.plant)
        if delegation is not None:
            return f"{role} for {delegation.delegator} (delegation)"
    return None


def sla(task: TaskRow, now: datetime) -> Sla | None:
    if task.due_at is None:
        return None
    left = task.due_at - now.timestamp()
    iso = datetime.fromtimestamp(task.due_at, now.tzinfo).isoformat()
    if left < 0:
        return Sla(f"overdue by {span(-left)}", True, iso)
    return Sla(f"due in {span(left)}", False, iso)


def span(seconds: float) -> str:
    """A duration as people read it: '2 d 4 h', '3 h 20 min', '45 s'."""
    s = int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def cards(app: App, actor: Actor, site: str = "") -> list[Card]:
    """My open tasks (those I may decide), soonest due first."""
    rows = app.service.tasks(actor, "open", None, 10_000)
    mine = [t for t in rows if candidacy(actor, t) and (not site or t.plant == site)]
    mine.sort(key=lambda t: (t.due_at is None, t.due_at or 0.0, t.created_at))
    return [card(app, actor, t) for t in mine[:200]]


def card(app: App, actor: Actor, task: TaskRow | str) -> Card:
    if isinstance(task, str):
        task = app.service.task(actor, task)
    run = app.service.run(actor, task.run_id)
    template = pinned(app, actor, run)
    spec = template.step(task.step).spec
    if not isinstance(spec, ApprovalSpec):
        raise NotFoundError(f"no task '{task.task_id}'")
    matched = _matched(template, spec, run)
    signature = spec.signature
    return Card(
        task=task,
        run=run,
        dom_id=dom_id(task.task_id),
        template_ref=template.ref,
        acting_as=candidacy(actor, task) or "",
        sla=sla(task, app.service.clock.now()) if task.status == "open" else None,
        roles_expr=spec.roles_from.source if spec.roles_from is not None else "",
        matched=matched,
        context=tuple(context_items(run.state.get("input"))),
        outcomes=tuple(spec.outcomes) or ("approve", "reject"),
        signature=signature.meaning if signature else None,
        reason_required=bool(signature and signature.reason_required),
        me=actor.user_id,
        decided=tuple(_decisions(run, task)),
    )


def pinned(app: App, actor: Actor, run: RunRow) -> Template:
    """The template version ``run`` pins. Whoever may read the run may see the flow it
    follows (as in the evidence bundle), even without ``template.read`` tenant-wide."""
    return app.service.templates.get(actor.tenant_id, run.template_id, run.template_version)


def _matched(template: Template, spec: ApprovalSpec, run: RunRow) -> tuple[MatchedRow, ...]:
    """The rows of the decision tables the step's roles come from that matched this run."""
    if spec.roles_from is None:
        return ()
    rows: list[MatchedRow] = []
    steps = run.state.get("steps")
    for step_id in dict.fromkeys(STEP_REF.findall(spec.roles_from.source)):
        if step_id not in template.steps or not isinstance(steps, dict):
            continue
        decide = template.step(step_id).spec
        entry = steps.get(step_id)
        detail = entry.get("detail") if isinstance(entry, dict) else None
        hits = detail.get("matched") if isinstance(detail, dict) else None
        if not isinstance(decide, DecideSpec) or not isinstance(hits, list):
            continue
        for rule in decide.rules:
            if rule.id in hits:
                then = ", ".join(f"{k}: {_text(v)}" for k, v in rule.then.items())
                rows.append(MatchedRow(step_id, rule.id, rule.when.source, then))
        if not hits and decide.default is not None:
            then = ", ".join(f"{k}: {_text(v)}" for k, v in decide.default.items())
            rows.append(MatchedRow(step_id, "(default)", "no row matched", then))
    return tuple(rows)


def _decisions(run: RunRow, task: TaskRow) -> list[JsonObject]:
    steps = run.state.get("steps")
    entry = steps.get(task.step) if isinstance(steps, dict) else None
    detail = entry.get("detail") if isinstance(entry, dict) else None
    if not isinstance(detail, dict) or detail.get("task_id") != task.task_id:
        return []
    found = detail.get("approvals")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def context_items(data: JsonValue) -> list[tuple[str, str]]:
    if not isinstance(data, dict):
        return []
    return [(key, _text(value)) for key, value in data.items()]


def _text(value: JsonValue) -> str:
    if isinstance(value, dict):
        if set(value) == {"amount", "currency"}:
            return f"{value['amount']} {value['currency']}"
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if value is None:
        return "–"
    return str(value)
