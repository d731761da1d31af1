"""Whether a run may move from one version of its template to another (ADR 0032). Pure:
both versions and the run's state decide it.

A run moves only while it waits: every current step is a task, an event wait or a timer
(an action in flight would report its outcome to a step that may no longer exist). Each
current step goes on as the step of the same id in the new version, or the one the
mapping names, which must be of the same kind.
"""

from __future__ import annotations

from collections.abc import Mapping

from andon.core.run import Run, RunStatus, StepStatus
from andon.core.template import ApprovalSpec, ParallelSpec, Template
from andon.errors import InputError


def check_mapping(old: Template, new: Template, mapping: Mapping[str, str]) -> None:
    """Refuse the whole batch for a mapping that names no step of the old version or of
    the new one: a typo, not something a run decides."""
    if old.id != new.id:
        raise InputError(f"cannot migrate runs of {old.ref} to another template ({new.ref})")
    if old.version == new.version:
        raise InputError(f"runs are already on {new.ref}: name another version to migrate to")
    for source, target in mapping.items():
        if source not in old.steps:
            raise InputError(f"--map {source}={target}: {old.ref} has no step '{source}'")
        if target not in new.steps:
            raise InputError(f"--map {source}={target}: {new.ref} has no step '{target}'")


def refusal(old: Template, new: Template, run: Run, mapping: Mapping[str, str]) -> str | None:
    """Why ``run`` cannot move from ``old`` to ``new``; None when it can."""
    if run.template_id != old.id:
        return f"the run is of template '{run.template_id}', not '{old.id}'"
    if run.template_version != old.version:
        return f"the run is on version {run.template_version}, not {old.version}"
    if run.status.ended:
        return f"the run has ended ({run.status.value})"
    if run.status is RunStatus.INCIDENT:
        return f"the run is in an incident at step '{run.incident}': retry or cancel it first"
    if run.status is not RunStatus.RUNNING:
        return f"the run is {run.status.value}"
    targets: set[str] = set()
    for step_id in run.active:
        state = run.step(step_id)
        if state.status in (StepStatus.ACTIVE, StepStatus.RETRYING):
            return (
                f"step '{step_id}' is mid-action (attempt {state.attempt}): "
                "migrate once its outcome is in"
            )
        target = mapping.get(step_id, step_id)
        if target not in new.steps:
            return f"step '{step_id}' is not in {new.ref}: map it (--map {step_id}=NEW_STEP)"
        was, becomes = old.steps[step_id].kind, new.steps[target].kind
        if was != becomes:
            return f"step '{step_id}' is a {was} step but '{target}' in {new.ref} is a {becomes}"
        if target in targets:
            return f"two current steps would both become '{target}'"
        targets.add(target)
    for join_id in run.joins:
        if new.join_owner.get(join_id) is None:
            return f"the run waits at join '{join_id}', which {new.ref} does not have"
        if _branches(old, join_id) != _branches(new, join_id):
            return f"join '{join_id}' waits for another number of branches in {new.ref}"
    return None


def moves(run: Run, mapping: Mapping[str, str]) -> dict[str, str]:
    """The current steps that change id, to their new id."""
    return {s: mapping[s] for s in run.active if mapping.get(s, s) != s}


def stale_timers(old: Template, run: Run, mapping: Mapping[str, str]) -> list[str]:
    """Escalation timers of steps the run leaves: the engine folds with the new version
    only, which does not know how many the old step set."""
    keys: list[str] = []
    for step_id in moves(run, mapping):
        spec = old.steps[step_id].spec
        if isinstance(spec, ApprovalSpec):
            visit = run.step(step_id).visit
            keys.extend(
                f"escalate:{step_id}:{visit}:{level}"
                for level in range(1, len(spec.escalations) + 1)
            )
    return keys


def _branches(template: Template, join_id: str) -> int:
    owner = template.steps[template.join_owner[join_id]].spec
    return len(owner.branches) if isinstance(owner, ParallelSpec) else 0
