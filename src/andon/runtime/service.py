"""The Andon service: every change is one transaction that journals a fact, saves the run
and writes the resulting commands to the outbox. Nothing leaves the process before commit."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from jsonschema import Draft202012Validator

from andon.core import codec, engine
from andon.core import commands as cmd
from andon.core.events import (
    Event,
    EventReceived,
    IncidentRetried,
    RunCancelled,
    RunStarted,
    TaskCompleted,
)
from andon.core.json import JsonObject, JsonValue
from andon.core.loader import load_template
from andon.core.overlay import Overlay, load_overlay, resolve
from andon.core.params import coerce_to_schema
from andon.core.run import Run
from andon.core.template import Template
from andon.errors import ConflictError, InputError, NotFoundError, TemplateError
from andon.governance import audit
from andon.runtime.clock import Clock
from andon.store.base import JournalRow, OutboxItem, OverlayRow, RunRow, TaskRow, TemplateRow
from andon.store.sqlite import SqliteStore
from andon.store.transaction import SqlTransaction


@dataclass(frozen=True, slots=True)
class StartRequest:
    template_id: str
    input: JsonObject
    plant: str = ""
    version: int | None = None
    actor: str = "system"
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    run_id: str
    event: Event
    actor: str = "system"


@dataclass(slots=True)
class EagerLease:
    """Actions created by a worker's own delivery are leased to it in the same transaction,
    so it runs them next without another claim commit. If it dies, the lease expires."""

    owner: str
    expires_at: float
    claimed: list[OutboxItem] = field(default_factory=list)


class Andon:
    """The runtime service that shells (CLI, API, demo, workers) call."""

    def __init__(
        self,
        store: SqliteStore,
        clock: Clock,
        *,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self._new_id = new_id or (lambda: uuid.uuid4().hex[:16])
        self._templates: dict[tuple[str, int], Template] = {}
        self._validators: dict[tuple[str, int], Draft202012Validator] = {}
        self._work_ready = threading.Condition()
        self._generation = 0

    # ---- publishing ----------------------------------------------------------------------

    def publish_template(self, text: str, source: str = "", actor: str = "system") -> Template:
        """Validate and store a template version; republishing identical text is a no-op."""
        template = load_template(text, source)
        now = self.clock.now().timestamp()
        with self.store.transaction() as tx:
            existing = tx.template(template.id, template.version)
            if existing is not None:
                if existing.digest != template.digest:
                    raise ConflictError(
                        f"{template.ref} is already published with other content; "
                        "versions are immutable, raise 'version'"
                    )
                return template
            tx.insert_template(
                TemplateRow(
                    template.id, template.version, template.digest, template.title, text, now
                ),
                actor,
            )
        return template

    def publish_overlay(self, text: str, source: str = "") -> Overlay:
        overlay = load_overlay(text, source)
        with self.store.transaction() as tx:
            row = tx.template(overlay.template_id, None)
            if row is None:
                raise NotFoundError(f"publish template '{overlay.template_id}' before its overlay")
            resolve(self._template_from(row), overlay, source)
            if tx.overlay(overlay.digest) is None:
                tx.insert_overlay(
                    OverlayRow(
                        overlay.digest, overlay.template_id, overlay.plant, overlay.parameters, text
                    ),
                    self.clock.now().timestamp(),
                )
        return overlay

    # ---- runs ----------------------------------------------------------------------------

    def start_run(self, request: StartRequest) -> str:
        return self.start_runs([request])[0]

    def start_runs(self, requests: Sequence[StartRequest]) -> list[str]:
        """Start several runs in one transaction (group commit for bulk intake)."""
        now = self.clock.now()
        ids = []
        with self.store.transaction() as tx:
            for request in requests:
                ids.append(self._start_in(tx, request, now))
        self._notify()
        return ids

    def _start_in(self, tx: SqlTransaction, request: StartRequest, now: datetime) -> str:
        row = tx.template(request.template_id, request.version)
        if row is None:
            which = f"@{request.version}" if request.version else ""
            raise NotFoundError(f"no published template '{request.template_id}{which}'")
        template = self._template_from(row)
        overlay = None
        if request.plant:
            found = tx.latest_overlay(template.id, request.plant)
            if found is not None:
                overlay = Overlay(found.template_id, found.plant, found.params, found.digest)
        params = resolve(template, overlay)
        run_input = self._checked_input(template, request.input)
        run_id = request.run_id or self._new_id()
        started = RunStarted(
            template.id,
            template.version,
            overlay.digest if overlay else "",
            request.plant,
            run_input,
            params,
            request.actor,
        )
        decision = engine.advance(template, Run(run_id), started, now)
        stamp = now.timestamp()
        blank = RunRow(
            run_id,
            template.id,
            template.version,
            started.overlay_digest,
            request.plant,
            "created",
            None,
            {},
            0,
            0,
            audit.GENESIS,
            request.actor,
            stamp,
            stamp,
            None,
        )
        tx.insert_run(blank)
        self._commit_decision(tx, template, blank, started, decision, request.actor, now)
        return run_id

    def _checked_input(self, template: Template, data: JsonObject) -> JsonObject:
        key = (template.id, template.version)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = Draft202012Validator(template.input_schema)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            lines = []
            for error in errors[:20]:
                where = "".join(
                    f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
                )
                lines.append(f"input{where}: {error.message}")
            raise InputError(f"input does not match {template.ref}: " + "; ".join(lines))
        coerced = coerce_to_schema(data, template.input_schema)
        assert isinstance(coerced, dict)
        return coerced

    def deliver(self, run_id: str, event: Event, actor: str = "system") -> engine.Decision:
        return self.deliver_many([Delivery(run_id, event, actor)])[0]

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[engine.Decision]:
        """Fold several facts, each into its run, in one transaction."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            decisions = [self._deliver_in(tx, d, now) for d in deliveries]
        self._notify()
        return decisions

    def _deliver_in(
        self,
        tx: SqlTransaction,
        delivery: Delivery,
        now: datetime,
        lease: EagerLease | None = None,
    ) -> engine.Decision:
        row = tx.run(delivery.run_id)
        if row is None:
            raise NotFoundError(f"no run '{delivery.run_id}'")
        template = self.template(row.template_id, row.template_version)
        run = codec.run_from_dict(row.state)
        decision = engine.advance(template, run, delivery.event, now)
        if decision.accepted:
            self._commit_decision(
                tx, template, row, delivery.event, decision, delivery.actor, now, lease
            )
        return decision

    def _commit_decision(
        self,
        tx: SqlTransaction,
        template: Template,
        row: RunRow,
        event: Event,
        decision: engine.Decision,
        actor: str,
        now: datetime,
        lease: EagerLease | None = None,
    ) -> None:
        run = decision.run
        stamp = now.timestamp()
        body = codec.event_to_dict(event)
        kind = str(body.pop("type"))
        trace: list[JsonValue] = list(decision.trace)
        record: JsonObject = {
            "run_id": run.id,
            "seq": run.seq,
            "type": kind,
            "body": body,
            "trace": trace,
            "actor": actor,
            "at": stamp,
        }
        digest = audit.chain_hash(row.last_hash, record)
        tx.append_journal(
            JournalRow(run.id, run.seq, kind, body, list(decision.trace), actor, stamp, digest)
        )
        tx.update_run(
            RunRow(
                run.id,
                row.template_id,
                row.template_version,
                row.overlay_digest,
                row.plant,
                run.status.value,
                run.outcome,
                codec.run_to_dict(run),
                row.revision + 1,
                run.seq,
                digest,
                row.started_by,
                row.created_at,
                stamp,
                run.ended_at.timestamp() if run.ended_at else None,
            ),
            expected_revision=row.revision,
        )
        for command in decision.commands:
            self._apply(tx, run, command, stamp, lease)

    def _apply(
        self,
        tx: SqlTransaction,
        run: Run,
        command: cmd.Command,
        now: float,
        lease: EagerLease | None = None,
    ) -> None:
        if isinstance(command, cmd.RunAction):
            key = f"action:{command.step}:{command.attempt}"
            body = codec.command_to_dict(command)
            if lease is None:
                tx.enqueue(run.id, key, "action", body, now, now)
            else:
                item_id = tx.enqueue(
                    run.id, key, "action", body, lease.expires_at, now, lease_owner=lease.owner
                )
                lease.claimed.append(OutboxItem(item_id, run.id, key, "action", body, now, 1))
        elif isinstance(command, cmd.StartTimer):
            tx.enqueue(
                run.id, command.key, "timer", {"key": command.key}, command.due_at.timestamp(), now
            )
        elif isinstance(command, cmd.CancelTimer):
            tx.dequeue(run.id, command.key)
        elif isinstance(command, cmd.OpenTask):
            tx.insert_task(
                TaskRow(
                    command.task_id,
                    run.id,
                    command.step,
                    command.title,
                    run.plant,
                    list(command.roles),
                    command.quorum,
                    "open",
                    None,
                    0,
                    [],
                    now,
                    command.due_at.timestamp() if command.due_at else None,
                    None,
                )
            )
        elif isinstance(command, cmd.EscalateTask):
            task = tx.task(command.task_id)
            if task is not None:
                tx.update_task(
                    command.task_id,
                    level=command.level,
                    escalated_to=[*task.escalated_to, command.role],
                )
        elif isinstance(command, cmd.CloseTask):
            tx.close_task(command.task_id, command.outcome, now)
        elif isinstance(command, cmd.AwaitEvent):
            tx.subscribe(
                run.id,
                command.step,
                command.event_type,
                command.key,
                now,
                command.expires_at.timestamp() if command.expires_at else None,
            )
        elif isinstance(command, cmd.StopAwaiting):
            tx.unsubscribe(run.id, command.step)
        else:
            tx.end_run_work(run.id, now)

    # ---- people and events ---------------------------------------------------------------

    def approve(
        self,
        task_id: str,
        actor: str,
        *,
        outcome: str = "approve",
        role: str = "",
        comment: str = "",
    ) -> engine.Decision:
        """Record one person's decision on a task."""
        return self.decide_tasks([(task_id, actor, outcome, role, comment)])[0]

    def decide_tasks(
        self, decisions: Sequence[tuple[str, str, str, str, str]]
    ) -> list[engine.Decision]:
        """Several (task, actor, outcome, role, comment) decisions in one transaction."""
        now = self.clock.now()
        out = []
        with self.store.transaction() as tx:
            for task_id, actor, outcome, role, comment in decisions:
                task = tx.task(task_id)
                if task is None:
                    raise NotFoundError(f"no task '{task_id}'")
                if task.status != "open":
                    raise ConflictError(f"task {task_id} is {task.status}")
                acting_role = role or next(iter(task.roles), "")
                event = TaskCompleted(task.step, task_id, actor, outcome, acting_role, comment)
                out.append(self._deliver_in(tx, Delivery(task.run_id, event, actor), now))
        self._notify()
        return out

    def send_event(
        self,
        event_type: str,
        key: str,
        data: JsonValue,
        *,
        source: str = "cli",
        event_id: str | None = None,
    ) -> int:
        """Take in an external event once; deliver it to every run waiting for it.

        Returns the number of runs it reached; a duplicate ``(source, event_id)`` reaches none.
        """
        now = self.clock.now()
        event_id = event_id or self._new_id()
        with self.store.transaction() as tx:
            fresh = tx.record_inbound(
                source, event_id, event_type, key, json.dumps(data, sort_keys=True), now.timestamp()
            )
            if not fresh:
                return 0
            matched = tx.subscribers(event_type, key)
            for run_id, step in matched:
                received = EventReceived(step, event_type, key, data, event_id)
                self._deliver_in(tx, Delivery(run_id, received, f"event:{source}"), now)
            tx.set_inbound_matches(source, event_id, len(matched))
        self._notify()
        return len(matched)

    def cancel(self, run_id: str, actor: str, reason: str = "") -> None:
        with self.store.reader() as reader:
            row = reader.run(run_id)
        if row is None:
            raise NotFoundError(f"no run '{run_id}'")
        if row.status in ("completed", "cancelled"):
            raise ConflictError(f"run {run_id} has already ended ({row.status})")
        self.deliver(run_id, RunCancelled(reason or "cancelled by operator", actor), actor)

    def retry_incident(self, run_id: str, actor: str, comment: str = "") -> None:
        self.deliver(run_id, IncidentRetried(actor, comment), actor)

    # ---- templates and queries -----------------------------------------------------------

    def template(self, template_id: str, version: int) -> Template:
        key = (template_id, version)
        cached = self._templates.get(key)
        if cached is not None:
            return cached
        with self.store.reader() as reader:
            row = reader.template(template_id, version)
        if row is None:
            raise NotFoundError(f"no published template '{template_id}@{version}'")
        return self._template_from(row)

    def _template_from(self, row: TemplateRow) -> Template:
        key = (row.template_id, row.version)
        cached = self._templates.get(key)
        if cached is None:
            try:
                cached = load_template(row.source, f"{row.template_id}@{row.version}")
            except TemplateError as exc:
                raise TemplateError(f"stored template {key} no longer validates: {exc}") from exc
            self._templates[key] = cached
        return cached

    # ---- wake-ups ------------------------------------------------------------------------

    def _notify(self) -> None:
        with self._work_ready:
            self._generation += 1
            self._work_ready.notify_all()

    @property
    def generation(self) -> int:
        """Counts commits in this process; pass it to ``wait_for_work`` to miss none."""
        return self._generation

    def wait_for_work(self, timeout: float, since: int | None = None) -> None:
        """Block until a commit in this process after generation ``since``, or timeout."""
        with self._work_ready:
            if since is not None and self._generation != since:
                return
            self._work_ready.wait(timeout)
