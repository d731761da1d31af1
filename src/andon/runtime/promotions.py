"""Governed promotion (ADR 0034): a version enters a governed stage only when a run of the
shipped ``template-promotion`` template has been approved.

``Promotions.request`` checks the move (stage order, sites, bindings), gathers the evidence
the approvers read and sign over (the semantic diff against what is in force, the binding
check, a dry run of recent events) and starts the run with it as input. The run's last
step calls the ``andon.promotion.apply`` action, which checks the run once more (every
approval approved, the author named truthfully, the bindings still there) and puts the
version in force with the run as its cause, once per run.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core import rollout
from andon.core.bindings import check_bindings
from andon.core.json import JsonObject, JsonValue
from andon.core.rollout import EVERY_PLANT
from andon.core.template import ApprovalSpec, Template
from andon.errors import ActionError, AndonError, ConflictError, GovernanceError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime.facts import StartRequest
from andon.runtime.lifecycle import Lifecycle, Move
from andon.runtime.operations import operation
from andon.runtime.service import Andon
from andon.store import rollouts as store

PROMOTION_TEMPLATE = "template-promotion"
APPLY_ACTION = "andon.promotion.apply"
DRY_RUN_EVENTS = 200
DIFF_LINES = 200
"""Lines of the semantic diff attached to the run (the full diff is one command away)."""

DryRun = Callable[[Actor, str, int, str | None, int], JsonObject]
"""(actor, template, candidate version, plant, last N events) -> the dry run's summary."""


def shipped_template() -> str:
    """The text of the shipped ``template-promotion`` template."""
    return (
        resources.files(__package__)
        .joinpath("shipped", f"{PROMOTION_TEMPLATE}.yaml")
        .read_text("utf-8")
    )


class Promotions:
    def __init__(self, service: Andon, lifecycle: Lifecycle, actions: ActionRegistry) -> None:
        self.service = service
        self.lifecycle = lifecycle
        self.actions = actions
        self.dry_run: DryRun | None = None
        """Set by the composition root when dry runs are available."""
        actions.register(APPLY_ACTION, self.apply)

    @operation(Permission.TEMPLATE_PROMOTE)
    def request(
        self,
        actor: Actor,
        template_id: str,
        version: int,
        stage: str,
        plants: list[str] | None = None,
        *,
        overlay_revision: int | None = None,
        reason: str = "",
        dry_run_events: int = DRY_RUN_EVENTS,
    ) -> str:
        """Start the promotion run for putting ``template_id@version`` in force at
        ``stage`` for ``plants`` (none: every plant); returns its run id. Refused at once
        for what the move itself would be refused for, and for unbound actions."""
        plants = sorted(set(plants or []))
        for plant in plants or [EVERY_PLANT]:
            authz.require(actor, Permission.TEMPLATE_PROMOTE, plant)
        move = Move(template_id, version, stage, plants, overlay_revision, reason.strip())
        self.lifecycle.check_move(actor.tenant_id, move)
        template = self.service.templates.get(actor.tenant_id, template_id, version)
        self._check_bindings(template)
        author = self._author(actor.tenant_id, template_id, version)
        plant = plants[0] if len(plants) == 1 else EVERY_PLANT
        in_force = self._in_force(actor.tenant_id, template_id, stage, plant)
        evidence: JsonObject = {
            "template_id": template_id, "version": version, "stage": stage,
            "plants": list(plants), "overlay_revision": overlay_revision,
            "reason": move.reason, "author": author, "requested_by": actor.user_id,
            "in_force": in_force, "diff": self._diff(actor, template_id, in_force, version, plant),
            "bindings": f"every action of {template.ref} is registered",
        }  # fmt: skip
        if self.dry_run is not None:
            evidence["dry_run"] = self.dry_run(actor, template_id, version, plant, dry_run_events)
        self._ensure_published(actor)
        return self.service.start_run(actor, StartRequest(PROMOTION_TEMPLATE, evidence, plant))

    def apply(self, call: ActionCall) -> JsonValue:
        """The run's last step: put the version in force (the ``andon.promotion.apply``
        action). A refusal is permanent: the run stops in an incident naming it."""
        try:
            move, by = self._approved(call.tenant_id, call.run_id)
            records = self.lifecycle.apply_promotion(call.tenant_id, move, by, call.run_id)
        except AndonError as exc:
            raise ActionError(str(exc), permanent=True) from exc
        return {
            "records": [r.seq for r in records],
            "in_force": [f"{r.stage}/{r.plant or '*'}: v{r.version}" for r in records],
        }

    def _approved(self, tenant_id: str, run_id: str) -> tuple[Move, str]:
        """The move an approved promotion run asks for, and its requester."""
        with self.service.store.reader() as reader:
            run = reader.scoped(tenant_id).run(run_id)
        if run is None or run.template_id != PROMOTION_TEMPLATE:
            raise GovernanceError(f"run {run_id} is not a {PROMOTION_TEMPLATE} run")
        if run.ended_at is not None:
            raise ConflictError(f"promotion run {run_id} has ended")
        template = self.service.templates.get(tenant_id, run.template_id, run.template_version)
        steps = run.state.get("steps")
        for step in template.steps.values():
            entry = steps.get(step.id) if isinstance(steps, dict) else None
            output = entry.get("output") if isinstance(entry, dict) else None
            outcome = output.get("outcome") if isinstance(output, dict) else None
            if isinstance(step.spec, ApprovalSpec) and outcome != "approve":
                raise GovernanceError(
                    f"promotion run {run_id}: step {step.id} is not approved ({outcome or 'open'})"
                )
        given = run.state.get("input")
        if not isinstance(given, dict):
            raise GovernanceError(f"promotion run {run_id} has no input")
        move = Move(
            str(given["template_id"]), _int(given["version"]), str(given["stage"]),
            [str(p) for p in _list(given.get("plants"))],
            _int(given["overlay_revision"]) if given.get("overlay_revision") is not None else None,
            str(given.get("reason") or ""),
        )  # fmt: skip
        author = self._author(tenant_id, move.template_id, move.version)
        if given.get("author") != author:
            raise GovernanceError(
                f"promotion run {run_id} names {given.get('author')!r} as the author of "
                f"{move.template_id}@{move.version}, but {author} published it"
            )
        if given.get("requested_by") != run.started_by:
            raise GovernanceError(
                f"promotion run {run_id} names {given.get('requested_by')!r} as requester, "
                f"but {run.started_by} started it"
            )
        self._check_bindings(self.service.templates.get(tenant_id, move.template_id, move.version))
        return move, run.started_by

    def _check_bindings(self, template: Template) -> None:
        problems = check_bindings(template, self.actions.names())
        if problems:
            listed = "; ".join(f"{p.path}: {p.message}" for p in problems)
            raise ConflictError(f"{template.ref} calls actions nothing provides: {listed}")

    def _author(self, tenant_id: str, template_id: str, version: int) -> str:
        with self.service.store.reader() as reader:
            scoped = reader.scoped(tenant_id)
            author = store.template_author(scoped.conn, scoped.tenant, template_id, version)
        if author is None:
            raise NotFoundError(f"no published template '{template_id}@{version}'")
        return author

    def _in_force(self, tenant_id: str, template_id: str, stage: str, plant: str) -> int | None:
        with self.service.store.reader() as reader:
            records = reader.scoped(tenant_id).stage_records(template_id, stage)
        found = rollout.in_force(records, plant)
        return found.version if found else None

    def _diff(
        self, actor: Actor, template_id: str, in_force: int | None, version: int, plant: str
    ) -> list[JsonValue]:
        if in_force is None:
            return [f"nothing of {template_id} is in force there yet: v{version} is the first"]
        if in_force == version:
            return [f"v{version} is already in force there"]
        diff = self.service.template_diff(actor, template_id, in_force, version, plant or None)
        lines = diff.render_text().splitlines()
        if len(lines) > DIFF_LINES:
            more = len(lines) - DIFF_LINES
            lines = [*lines[:DIFF_LINES], f"… {more} more lines (andon diff {template_id})"]
        return list(lines)

    def _ensure_published(self, actor: Actor) -> None:
        """The tenant's promotions run the shipped template until it publishes its own."""
        with self.service.store.reader() as reader:
            found = reader.scoped(actor.tenant_id).template(PROMOTION_TEMPLATE, None)
        if found is None:
            self.service.publish_template(actor, shipped_template(), f"{PROMOTION_TEMPLATE}.yaml")


def _int(value: JsonValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GovernanceError(f"expected a whole number, got {value!r}")
    return int(value)


def _list(value: JsonValue) -> list[JsonValue]:
    return value if isinstance(value, list) else []
