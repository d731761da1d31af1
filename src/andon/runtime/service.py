"""The Andon service: the operations shells call, each for an ``Actor`` in one tenant.

Every operation is authorized first (``governance.authz``), then runs as one transaction
scoped to the actor's tenant. An object of another tenant is indistinguishable from one
that does not exist. Task decisions are also judged under segregation of duties; a refusal
is journaled as a ``PolicyViolated`` fact before the error reaches the caller.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from andon.core.bindings import check_bindings
from andon.core.contracts import template_problems
from andon.core.events import (
    EventReceived,
    IncidentRetried,
    RunCancelled,
)
from andon.core.json import JsonValue, is_json
from andon.core.loader import load_template
from andon.core.overlay import Overlay, load_overlay, resolve
from andon.core.template import Template
from andon.core.yamlsource import locate
from andon.errors import (
    ConflictError,
    GovernanceError,
    InputError,
    NotFoundError,
    Problem,
    TemplateError,
)
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain, lifecycle, preparation
from andon.runtime.clock import Clock
from andon.runtime.contracts import ContractDesk, check_event, effective
from andon.runtime.dead_letters import DeadLetterDesk, Remapper
from andon.runtime.facts import Delivery, FactWriter, StartRequest, triggered_run_id
from andon.runtime.operations import operation
from andon.runtime.signals import LocalWorker, Signals
from andon.runtime.tasks import Authenticator, Credentials, TaskDecision, TaskDesk
from andon.runtime.template_diffs import DiffDesk
from andon.runtime.templates import TemplateCache
from andon.store.base import JournalRow, RunRow, TaskRow, TemplateRow
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction

__all__ = ["Andon", "Credentials", "Delivery", "LocalWorker", "StartRequest", "TaskDecision"]


@dataclass(frozen=True, slots=True)
class Received:
    """What an inbound event did."""

    reached: int
    """Waiting runs it was delivered to."""
    started: tuple[str, ...] = ()
    """Runs it started (templates it triggers)."""
    duplicate: bool = False
    """Seen before under the same source and id: nothing was done."""
    dead_letter: str | None = None
    """Not taken in but kept as this dead letter (adapters and webhooks)."""


class Andon(TaskDesk, ContractDesk, DeadLetterDesk, DiffDesk):
    """The runtime service that shells (CLI, API, demo, workers) call."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        new_id: Callable[[], str] | None = None,
        authenticate: Authenticator | None = None,
        action_names: Callable[[], Collection[str]] = tuple,
    ) -> None:
        self.store = store
        self.action_names = action_names
        """The actions this process registers (``ActionRegistry.names``): publishing refuses
        action steps that name another (ADR 0030)."""
        self.clock = clock
        self._authenticate = authenticate
        self._new_id = new_id or (lambda: uuid.uuid4().hex[:16])
        self.templates = TemplateCache(store)
        self.facts = FactWriter(self.templates)
        self.signals = Signals()
        self.remappers: dict[str, Remapper] = {}
        """Per kind of channel, how to map a dead letter's kept payload again."""
        self.reserved: dict[str, str] = {}
        """Templates whose runs one operation alone starts (id -> that operation, for the
        refusal): a ``template-promotion`` run only through a promotion request (ADR 0034).
        Such templates may declare no triggers, and their runs are not migrated."""

    # ---- publishing ----------------------------------------------------------------------

    @operation(Permission.TEMPLATE_PUBLISH)
    def publish_template(self, actor: Actor, text: str, source: str = "") -> Template:
        """Validate and store a template version; republishing identical text is a no-op.
        Refused: events without a contract (ADR 0013) and actions this process does not
        register (ADR 0030)."""
        authz.require(actor, Permission.TEMPLATE_PUBLISH)
        template = load_template(text, source)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            existing = tx.template(template.id, template.version)
            if existing is not None:
                if existing.digest != template.digest:
                    raise ConflictError(
                        f"{template.ref} is already published with other content; "
                        "versions are immutable, raise 'version'"
                    )
                return template
            problems = template_problems(template, effective(tx))
            problems += check_bindings(template, self.action_names())
            if template.id in self.reserved and template.triggers:
                started = self.reserved[template.id]
                problems.append(Problem("triggers", f"{template.id} runs start by {started} only"))
            if problems:
                raise TemplateError(locate(text, source, problems))
            tx.insert_template(
                TemplateRow(
                    template.id, template.version, template.digest, template.title, text, now
                ),
                actor.user_id,
            )
            lifecycle.published(tx, template.id, template.version, actor.user_id, now)
            admin_chain.record(
                tx, "template.published", template.ref,
                {"digest": template.digest, "source": source}, actor.user_id, now,
            )  # fmt: skip
        return template

    @operation(Permission.TEMPLATE_PUBLISH)
    def publish_overlay(self, actor: Actor, text: str, source: str = "") -> Overlay:
        overlay = load_overlay(text, source)
        authz.require(actor, Permission.TEMPLATE_PUBLISH, overlay.plant)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            row = tx.template(overlay.template_id, None)
            if row is None:
                raise NotFoundError(f"publish template '{overlay.template_id}' before its overlay")
            resolve(self.templates.compile(tx.tenant, row), overlay, source)
            # Publishing earlier content again is a new revision: it applies again (ADR 0031).
            revision = lifecycle.overlay_published(tx, overlay, text, now)
            if revision is not None:
                admin_chain.record(
                    tx, "overlay.published", f"{overlay.template_id}/{overlay.plant}",
                    {"digest": overlay.digest, "source": source, "revision": revision},
                    actor.user_id, now,
                )  # fmt: skip
        return overlay

    # ---- runs ----------------------------------------------------------------------------

    @operation(Permission.RUN_START)
    def start_run(self, actor: Actor, request: StartRequest) -> str:
        return self.start_runs(actor, [request])[0]

    @operation(Permission.RUN_START)
    def start_runs(self, actor: Actor, requests: Sequence[StartRequest]) -> list[str]:
        """Start several runs in one transaction (group commit for bulk intake)."""
        for request in requests:
            authz.require(actor, Permission.RUN_START, request.plant)
            if request.template_id in self.reserved:
                raise GovernanceError(
                    f"runs of {request.template_id} start by {self.reserved[request.template_id]}"
                    " only"
                )
        return self.start_reserved(actor, requests)

    def start_reserved(
        self,
        actor: Actor,
        requests: Sequence[StartRequest],
        record: Callable[[SqlTransaction, list[str]], None] | None = None,
    ) -> list[str]:
        """Start runs without the reserved-template check: for the one operation that
        starts each reserved template, which judges its caller itself; ``record`` writes
        in the same transaction (its admin entry)."""
        now = self.clock.now()
        ids = [request.run_id or self._new_id() for request in requests]
        starts = [(r, run_id, actor.user_id) for r, run_id in zip(requests, ids, strict=True)]
        prepared = preparation.starts(self.templates, actor.tenant_id, starts, now)
        after = self.signals.after_commit(now.timestamp())
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            for (request, run_id, by), ahead in zip(starts, prepared, strict=True):
                self.facts.start(tx, request, run_id, by, now, after, ahead)
            if record is not None:
                record(tx, ids)
        self.signals.committed(after)
        return ids

    @operation(Permission.RUN_CANCEL)
    def cancel(self, actor: Actor, run_id: str, reason: str = "") -> None:
        self._intervene(actor, run_id, Permission.RUN_CANCEL, "run.cancelled", reason)

    @operation(Permission.RUN_RETRY)
    def retry_incident(self, actor: Actor, run_id: str, comment: str = "") -> None:
        self._intervene(actor, run_id, Permission.RUN_RETRY, "run.retried", comment)

    def _intervene(
        self, actor: Actor, run_id: str, permission: Permission, action: str, text: str
    ) -> None:
        """An operator's cancel or retry: a fact on the run and an act in the admin chain."""
        now = self.clock.now()
        after = self.signals.after_commit(now.timestamp())
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            row = self._run_row(tx, actor, run_id, permission)
            if permission is Permission.RUN_CANCEL:
                if row.status in ("completed", "cancelled"):
                    raise ConflictError(f"run {run_id} has already ended ({row.status})")
                event: RunCancelled | IncidentRetried = RunCancelled(
                    text or "cancelled by operator", actor.user_id
                )
            else:
                event = IncidentRetried(actor.user_id, text)
            decision = self.facts.deliver(tx, Delivery(run_id, event, actor.user_id), now, after)
            if decision.accepted:
                admin_chain.record(
                    tx, action, run_id, {"text": text}, actor.user_id, now.timestamp()
                )
        self.signals.committed(after)

    # ---- people ----------------------------------------------------------------------------

    # ---- events --------------------------------------------------------------------------

    @operation(Permission.EVENT_SEND)
    def send_event(
        self,
        actor: Actor,
        event_type: str,
        key: str,
        data: JsonValue,
        *,
        source: str = "cli",
        event_id: str | None = None,
        plant: str = "",
    ) -> Received:
        """Take in an external event once: deliver it to every run of the tenant waiting
        for it, and start a run of every template it triggers (input = the event data,
        at ``plant``). A duplicate ``(source, event_id)`` does nothing."""
        authz.require(actor, Permission.EVENT_SEND)
        if not is_json(data):
            raise InputError("event data must be JSON nested at most 64 levels deep")
        if plant:
            authz.require(actor, Permission.RUN_START, plant)
        now = self.clock.now()
        event_id = event_id or self._new_id()
        # Trigger conditions, and the deliveries and starts, evaluate CEL up to its budget:
        # judged before the write lock is taken, so they never hold up other writers.
        ahead = preparation.inbound(
            self.templates, actor.tenant_id, event_type, key, data, event_id, source, plant, now
        )
        after = self.signals.after_commit(now.timestamp())
        started: list[str] = []
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            body = json.dumps(data, sort_keys=True)
            tx.lock_correlation(event_type, key)
            if not tx.record_inbound(
                source, event_id, event_type, key, body, now.timestamp(), plant
            ):
                return Received(0, (), duplicate=True)
            check_event(tx, event_type, data)
            matched = tx.subscribers(event_type, key)
            for run_id, step in matched:
                received = EventReceived(step, event_type, key, data, event_id)
                delivery = Delivery(run_id, received, f"event:{source}")
                prepared = ahead.folds.get((run_id, step))
                self.facts.deliver(tx, delivery, now, after, prepared=prepared)
            for template in self._triggered(tx, event_type, data, ahead.takes, plant):
                if not isinstance(data, dict):
                    raise InputError(
                        f"event {event_type} starts {template.ref}: data must be an object"
                    )
                authz.require(actor, Permission.RUN_START, plant)
                run_id = triggered_run_id(tx.tenant, source, event_id, template.id)
                # No version: the start takes the one in force here, with its overlay pin.
                request = StartRequest(template.id, data, plant, None, run_id)
                by, start = f"event:{source}", ahead.starts.get(run_id)
                self.facts.start(tx, request, run_id, by, now, after, start)
                started.append(run_id)
            tx.set_inbound_matches(source, event_id, len(matched) + len(started))
        self.signals.committed(after)
        return Received(len(matched), tuple(started))

    def _triggered(
        self,
        tx: SqlTransaction,
        event_type: str,
        data: JsonValue,
        takes: dict[tuple[str, int], bool],
        plant: str,
    ) -> list[Template]:
        """The version in force at ``plant`` of every template this event starts; only a
        version put in force since ``takes`` was judged (ahead) is judged here."""
        found = []
        for template_id, version in lifecycle.live_templates(tx, plant):
            template = self.templates.get(tx.tenant, template_id, version)
            judged = takes.get((template_id, version))
            if judged if judged is not None else template.starts_on(event_type, data):
                found.append(template)
        return found

    # ---- reading -------------------------------------------------------------------------

    @operation(Permission.RUN_READ)
    def run(self, actor: Actor, run_id: str) -> RunRow:
        with self.store.reader() as reader:
            row = reader.scoped(actor.tenant_id).run(run_id)
        if row is None or not authz.authorize(actor, Permission.RUN_READ, row.plant):
            raise NotFoundError(f"no run '{run_id}'")
        return row

    @operation(Permission.RUN_READ)
    def runs(
        self,
        actor: Actor,
        status: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRow]:
        """The runs the actor may read, newest first; ``before`` continues a page."""
        sites = authz.readable_sites(actor, Permission.RUN_READ)
        if sites is not None and not sites:
            authz.require(actor, Permission.RUN_READ)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).runs(status, limit, sites, before)

    @operation(Permission.RUN_READ)
    def journal(self, actor: Actor, run_id: str) -> list[JournalRow]:
        self.run(actor, run_id)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).journal(run_id)

    @operation(Permission.TASK_READ)
    def tasks(
        self, actor: Actor, status: str | None = "open", role: str | None = None, limit: int = 100
    ) -> list[TaskRow]:
        sites = authz.readable_sites(actor, Permission.TASK_READ)
        if sites is not None and not sites:
            authz.require(actor, Permission.TASK_READ)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).tasks(status, role, limit, sites)

    @operation(Permission.TASK_READ)
    def task(self, actor: Actor, task_id: str) -> TaskRow:
        with self.store.reader() as reader:
            row = reader.scoped(actor.tenant_id).task(task_id)
        if row is None or not authz.authorize(actor, Permission.TASK_READ, row.plant):
            raise NotFoundError(f"no task '{task_id}'")
        return row

    @operation(Permission.TEMPLATE_READ)
    def published_templates(self, actor: Actor) -> list[TemplateRow]:
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).templates()

    @operation(Permission.TEMPLATE_READ)
    def template_source(self, actor: Actor, template_id: str, version: int) -> TemplateRow:
        """A published version as stored: its YAML text, digest and who published it."""
        authz.require(actor, Permission.TEMPLATE_READ)
        if not 1 <= version < 2**31:
            raise NotFoundError(f"no published template '{template_id}@{version}'")
        with self.store.reader() as reader:
            row = reader.scoped(actor.tenant_id).template(template_id, version)
        if row is None:
            raise NotFoundError(f"no published template '{template_id}@{version}'")
        return row

    @operation(Permission.TEMPLATE_READ)
    def template(self, actor: Actor, template_id: str, version: int) -> Template:
        authz.require(actor, Permission.TEMPLATE_READ)
        return self.templates.get(actor.tenant_id, template_id, version)

    @operation(Permission.RUN_READ)
    def wait_until_ended(self, actor: Actor, run_id: str, timeout: float) -> bool:
        """Block until the run has ended or ``timeout`` passed; True if it ended.

        Runs ended by this process wake the caller at once; for runs that another process
        ends (or ended before the call), the database is read every quarter second.
        """
        deadline = time.monotonic() + timeout
        looked = time.monotonic()
        while True:
            remaining = deadline - time.monotonic()
            if self.signals.ended_here(actor.tenant_id, run_id, max(0.0, min(remaining, 0.25))):
                return True
            if remaining <= 0 or time.monotonic() - looked >= 0.25:
                looked = time.monotonic()
                # Scoped: another tenant's run (or none) is not found, never waited for.
                if self.run(actor, run_id).status in ("completed", "cancelled"):
                    return True
                if remaining <= 0:
                    return False

    def _run_row(
        self, tx: SqlTransaction, actor: Actor, run_id: str, permission: Permission
    ) -> RunRow:
        row = tx.run(run_id)
        if row is None:
            raise NotFoundError(f"no run '{run_id}'")
        authz.require(actor, permission, row.plant)
        return row

    # ---- workers and wake-ups --------------------------------------------------------------

    def attach_worker(self, local: LocalWorker) -> None:
        """Route new actions of this process's writes to ``local`` (one worker at a time)."""
        self.signals.attach(local)

    def detach_worker(self, owner: str) -> None:
        self.signals.detach(owner)

    def wake(self) -> None:
        """Wake every thread waiting for work (e.g. a worker told to stop)."""
        self.signals.wake()

    @property
    def generation(self) -> int:
        """Counts commits in this process; pass it to ``wait_for_work`` to miss none."""
        return self.signals.generation

    def wait_for_work(self, timeout: float, since: int | None = None) -> None:
        """Block until a commit in this process after generation ``since``, or timeout."""
        self.signals.wait(timeout, since)

    def _now(self) -> float:
        return self.clock.now().timestamp()
