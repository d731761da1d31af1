"""Governed promotion (ADR 0034): a version enters a governed stage only when a run of the
``template-promotion`` template in force has been approved and signed.

``Promotions.request`` is the one way such a run starts (the service refuses any other
start of it). It checks the move (stage order, sites, bindings), gathers the evidence the
approvers read and sign over (the semantic diff against what is in force, the binding
check, a dry run of recent events) and starts the run with it as input, with an admin
entry in the same transaction. The run's last step calls the ``andon.promotion.apply``
action, which judges the locked run once more and puts the version in force, once per run.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core import rollout
from andon.core.bindings import check_bindings
from andon.core.dry_run import DryRunReport
from andon.core.json import JsonObject, JsonValue
from andon.core.rollout import EVERY_PLANT
from andon.core.template import ApprovalSpec, Template
from andon.errors import (
    ActionError,
    AndonError,
    ConflictError,
    GovernanceError,
    InputError,
    NotFoundError,
)
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor, Grant, PrincipalKind
from andon.runtime import admin_chain
from andon.runtime.dry_run import DryRuns
from andon.runtime.facts import StartRequest
from andon.runtime.lifecycle import Lifecycle, Move, checked_reason, chosen
from andon.runtime.operations import operation
from andon.runtime.service import Andon
from andon.store.base import RunRow
from andon.store.transaction import SqlTransaction

PROMOTION_TEMPLATE = "template-promotion"
APPLY_ACTION = "andon.promotion.apply"
SIGNATURE_MEANING = "approved-for-production"
SIGNATURES_NEEDED = 2
"""Whatever a tenant's own version of the template says, a promotion needs at least this
many signatures meaning ``approved-for-production``, by people other than its author and
its requester."""
SHIPPED_BY = "andon"
DRY_RUN_EVENTS = 200
DRY_RUN_SHOWN = 20
DIFF_LINES = 200
"""Lines of the semantic diff attached to the run (the full diff is one command away)."""
PERMANENT = (GovernanceError, NotFoundError, InputError, ConflictError)
"""Refusals an apply attempt ends with; other errors (a database that does not answer)
are worth another attempt."""


def shipped_template() -> str:
    """The text of the shipped ``template-promotion`` template."""
    folder = resources.files(__package__).joinpath("shipped")
    return folder.joinpath(f"{PROMOTION_TEMPLATE}.yaml").read_text("utf-8")


class Promotions:
    """Requests for governed promotions and the action that applies approved ones."""

    def __init__(
        self, service: Andon, lifecycle: Lifecycle, actions: ActionRegistry, dry_runs: DryRuns
    ) -> None:
        self.service = service
        self.lifecycle = lifecycle
        self.actions = actions
        self.dry_runs = dry_runs
        actions.register(APPLY_ACTION, self.apply)
        service.reserved[PROMOTION_TEMPLATE] = "a promotion request (andon promote)"

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
        """Start the promotion run for putting ``template_id@version`` in force at the
        governed ``stage`` for ``plants`` (none: every plant); returns its run id. Refused
        at once for what the move itself would be refused for, and for unbound actions."""
        plants = sorted(set(plants or []))
        for plant in plants or [EVERY_PLANT]:
            authz.require(actor, Permission.TEMPLATE_PROMOTE, plant)
        move = Move(
            template_id, version, stage, tuple(plants), overlay_revision, checked_reason(reason)
        )
        with self.service.store.reader() as reader:
            governed = reader.scoped(actor.tenant_id).governed_stages()
        if stage not in governed:
            raise InputError(f"stage '{stage}' is not governed: promote to it directly")
        self.lifecycle.check_move(actor.tenant_id, move)
        self._check_matrix(actor.tenant_id, move)
        template = self.service.templates.get(actor.tenant_id, template_id, version)
        self._check_bindings(template)
        plant = _run_plant(move)
        with self.service.store.reader() as reader:
            scoped = reader.scoped(actor.tenant_id)
            author = scoped.template_author(template_id, version)
            found = rollout.in_force(scoped.stage_records(template_id, stage), plant)
        in_force = found.version if found else None
        evidence: JsonObject = {
            "template_id": template_id, "version": version, "stage": stage,
            "plants": list(plants), "overlay_revision": overlay_revision,
            "reason": move.reason, "author": author, "requested_by": actor.user_id,
            "in_force": in_force, "diff": self._diff(actor, template_id, in_force, version, plant),
            "bindings": f"every action of {template.ref} is registered",
        }  # fmt: skip
        if dry_run_events:
            report = self.dry_runs.run(
                actor, template_id, version, plant=plant or None, last=dry_run_events
            )
            evidence["dry_run"] = _dry_run_evidence(report)
        self._ensure_shipped(actor.tenant_id)
        digest = hashlib.sha256(json.dumps(evidence, sort_keys=True).encode()).hexdigest()
        now = self.service.clock.now().timestamp()

        def requested(tx: SqlTransaction, run_ids: list[str]) -> None:
            admin_chain.record(
                tx, "template.promotion_requested", f"{template_id}@{version}",
                {"run": run_ids[0], "stage": stage, "plants": list(plants),
                 "evidence_sha256": digest}, actor.user_id, now,
            )  # fmt: skip

        start = StartRequest(PROMOTION_TEMPLATE, evidence, plant)
        return self.service.start_reserved(actor, [start], requested)[0]

    def apply(self, call: ActionCall) -> JsonValue:
        """The run's last step: put the version in force (the ``andon.promotion.apply``
        action). A refusal is permanent: the run stops in an incident naming it."""
        try:
            records = self.lifecycle.apply_promotion(call.tenant_id, call.run_id, self._approved)
        except PERMANENT as exc:
            raise ActionError(str(exc), permanent=True) from exc
        except AndonError as exc:
            raise ActionError(str(exc)) from exc
        return {
            "records": [r.seq for r in records],
            "in_force": [f"{r.stage}/{r.plant or '*'}: v{r.version}" for r in records],
        }

    def _approved(self, tx: SqlTransaction, run: RunRow) -> tuple[Move, str]:
        """The move the locked promotion run ``run`` asks for and its requester, judged
        from the run as it is now and from its journal; raises what is wrong."""
        where = f"promotion run {run.run_id}"
        if run.template_id != PROMOTION_TEMPLATE:
            raise GovernanceError(f"run {run.run_id} is not a {PROMOTION_TEMPLATE} run")
        if run.ended_at is not None:
            raise ConflictError(f"{where} has ended ({run.status})")
        in_force, _ = _version_in_force(tx, run.plant)
        if in_force is not None and run.template_version != in_force:
            raise GovernanceError(
                f"{where} follows {PROMOTION_TEMPLATE}@{run.template_version}, but "
                f"@{in_force} is in force for its plant"
            )
        template = self.service.templates.get(tx.tenant, run.template_id, run.template_version)
        _check_approvals(template, run, where)
        given = run.state.get("input")
        if not isinstance(given, dict):
            raise GovernanceError(f"{where} has no input")
        move = _move_of(given, where)
        if run.plant != _run_plant(move):
            raise GovernanceError(
                f"{where} runs at plant '{run.plant}' but asks for {list(move.plants) or 'every'}"
                " plant(s): the approvers must be those of the plant promoted"
            )
        author = tx.template_author(move.template_id, move.version)
        if author is None:
            raise NotFoundError(f"no published template '{move.template_id}@{move.version}'")
        if given.get("author") != author:
            raise GovernanceError(
                f"{where} names {given.get('author')!r} as the author of "
                f"{move.template_id}@{move.version}, but {author} published it"
            )
        if given.get("requested_by") != run.started_by:
            raise GovernanceError(
                f"{where} names {given.get('requested_by')!r} as requester, but "
                f"{run.started_by} started it"
            )
        _check_signatures(tx, run.run_id, {author, run.started_by}, where)
        self._check_bindings(self.service.templates.get(tx.tenant, move.template_id, move.version))
        return move, run.started_by

    def _check_matrix(self, tenant_id: str, move: Move) -> None:
        """A plant whose overlay changes the approval matrix gets a promotion of its own:
        a run for several plants (or every plant) has no plant, so no plant's overlay."""
        if len(move.plants) == 1:
            return
        with self.service.store.reader() as reader:
            overlaid = reader.scoped(tenant_id).overlay_plants(PROMOTION_TEMPLATE)
        own = sorted(overlaid & set(move.plants)) if move.plants else sorted(overlaid)
        if own:
            raise InputError(
                f"{', '.join(own)} approve promotions their own way (an overlay of "
                f"{PROMOTION_TEMPLATE}): request the promotion for each of them on its own"
            )

    def _check_bindings(self, template: Template) -> None:
        problems = check_bindings(template, self.actions.names())
        if problems:
            listed = "; ".join(f"{p.path}: {p.message}" for p in problems)
            raise ConflictError(f"{template.ref} calls actions nothing provides: {listed}")

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

    def _ensure_shipped(self, tenant_id: str) -> None:
        """A tenant's first request publishes the shipped template and puts it in force
        everywhere, as Andon itself: a tenant's own version must then be promoted, under
        the approval of the version in force, before it decides anything."""
        with self.service.store.reader() as reader:
            found = reader.scoped(tenant_id).template(PROMOTION_TEMPLATE, None)
        if found is None:
            andon = Actor(SHIPPED_BY, tenant_id, "Andon", PrincipalKind.SERVICE,
                          (Grant(authz.PROCESS_OWNER),))  # fmt: skip
            template = self.service.publish_template(
                andon, shipped_template(), f"{PROMOTION_TEMPLATE}.yaml"
            )
            self.lifecycle.install_shipped(tenant_id, template.id, template.version, SHIPPED_BY)


def _run_plant(move: Move) -> str:
    """The promotion run's plant: the one plant promoted, else none (tenant-wide)."""
    return move.plants[0] if len(move.plants) == 1 else EVERY_PLANT


def _version_in_force(tx: SqlTransaction, plant: str) -> tuple[int | None, int | None]:
    try:
        return chosen(tx, PROMOTION_TEMPLATE, plant, None, None)
    except NotFoundError:
        return None, None


def _check_approvals(template: Template, run: RunRow, where: str) -> None:
    """Every approval step of the run's template has been approved."""
    steps = run.state.get("steps")
    for step in template.steps.values():
        if not isinstance(step.spec, ApprovalSpec):
            continue
        entry = steps.get(step.id) if isinstance(steps, dict) else None
        output = entry.get("output") if isinstance(entry, dict) else None
        outcome = output.get("outcome") if isinstance(output, dict) else None
        if outcome != "approve":
            raise GovernanceError(f"{where}: step {step.id} is not approved ({outcome or 'open'})")


def _check_signatures(tx: SqlTransaction, run_id: str, barred: set[str], where: str) -> None:
    """The floor no version of the template can lower: enough distinct people, neither
    the author nor the requester (nor acting for them), signed ``approved-for-production``."""
    signers = set()
    for row in tx.run_journal(run_id):
        body = row.body
        signature = body.get("signature")
        if row.type != "TaskCompleted" or body.get("outcome") != "approve":
            continue
        if not isinstance(signature, dict) or signature.get("meaning") != SIGNATURE_MEANING:
            continue
        people = {str(body.get("actor") or ""), str(body.get("on_behalf_of") or "")} - {""}
        if not people & barred:
            signers.add(str(body.get("actor")))
    if len(signers) < SIGNATURES_NEEDED:
        raise GovernanceError(
            f"{where} has {len(signers)} signature(s) meaning {SIGNATURE_MEANING} by people "
            f"other than its author and requester; it needs {SIGNATURES_NEEDED}"
        )


def _move_of(given: JsonObject, where: str) -> Move:
    """The move a promotion run's input asks for, each field checked by name."""

    def text(name: str, *, optional: bool = False) -> str:
        value = given.get(name)
        if optional and value is None:
            return ""
        if not isinstance(value, str) or not (value or optional):
            raise GovernanceError(f"{where}: input.{name} must be text, not {value!r}")
        return value

    def whole(name: str) -> int | None:
        value = given.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GovernanceError(f"{where}: input.{name} must be a whole number, not {value!r}")
        return value

    plants = given.get("plants")
    if not isinstance(plants, list) or not all(isinstance(p, str) and p for p in plants):
        raise GovernanceError(f"{where}: input.plants must be a list of sites, not {plants!r}")
    version = whole("version")
    if version is None:
        raise GovernanceError(f"{where}: input.version is missing")
    return Move(
        text("template_id"), version, text("stage"), tuple(str(p) for p in plants),
        whole("overlay_revision"), text("reason", optional=True),
    )  # fmt: skip


def _dry_run_evidence(report: DryRunReport) -> JsonObject:
    """What an approver reads of the dry run: the counts and one line per differing event
    (the first few; ``andon dry-run`` shows every one)."""
    differing = report.differing
    lines: list[JsonValue] = [
        f"{e.event.event_id} (key {e.event.key}, plant {e.event.plant or '-'}): "
        + "; ".join(e.differences)
        for e in differing[:DRY_RUN_SHOWN]
    ]
    return {
        "considered": report.considered, "taken": report.taken, "differing": len(differing),
        "skipped_actions": report.skipped_actions, "truncated": report.truncated,
        "differing_events": lines,
    }  # fmt: skip
