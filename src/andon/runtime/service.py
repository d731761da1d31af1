"""The Andon service: every change is one transaction that journals a fact, saves the run
and writes the resulting commands to the outbox. Nothing leaves the process before commit."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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
from andon.core.instances import InstanceSchema
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

_ENDED_REMEMBERED = 4096


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
class AfterCommit:
    """What one write transaction leaves to do once it has committed.

    With an ``owner``, actions it creates are born leased to that worker (runs whose id
    starts with ``run_prefix``), so the worker runs them next without a claim transaction;
    if it dies, the lease expires. ``ended`` lists runs that reached an end, for waiters.
    """

    owner: str | None = None
    expires_at: float = 0.0
    run_prefix: str = ""
    claimed: list[OutboxItem] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def leases(self, run_id: str) -> bool:
        return self.owner is not None and run_id.startswith(self.run_prefix)


@dataclass(frozen=True, slots=True)
class LocalWorker:
    """A worker in this process that takes new actions straight from the transaction that
    creates them: they are born leased to it and handed over after commit, which saves a
    claim transaction and a poll on the way from a start or an approval to the action."""

    owner: str
    lease_s: float
    run_prefix: str
    hand_over: Callable[[list[OutboxItem]], None]


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
        self._validators: dict[tuple[str, int], InstanceSchema] = {}
        self._work_ready = threading.Condition()
        self._generation = 0
        self._local: LocalWorker | None = None
        self._ended: OrderedDict[str, None] = OrderedDict()  # recently ended here, for waiters

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
        after = self._after_commit(now)
        with self.store.transaction() as tx:
            for request in requests:
                ids.append(self._start_in(tx, request, now, after))
        self._committed(after)
        return ids

    def _start_in(
        self,
        tx: SqlTransaction,
        request: StartRequest,
        now: datetime,
        after: AfterCommit,
    ) -> str:
        template = self._template_for_start(tx, request.template_id, request.version)
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
        fresh = RunRow(
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
        self._commit_decision(tx, template, fresh, started, decision, request.actor, now, after)
        return run_id

    def _template_for_start(
        self, tx: SqlTransaction, template_id: str, version: int | None
    ) -> Template:
        """The pinned version, or the latest; compiled templates come from the cache, which
        only ever holds published (immutable) versions."""
        if version is None:
            version = tx.latest_template_version(template_id)
        cached = self._templates.get((template_id, version)) if version is not None else None
        if cached is not None:
            return cached
        row = tx.template(template_id, version) if version is not None else None
        if row is None:
            which = f"@{version}" if version else ""
            raise NotFoundError(f"no published template '{template_id}{which}'")
        return self._template_from(row)

    def _checked_input(self, template: Template, data: JsonObject) -> JsonObject:
        key = (template.id, template.version)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = InstanceSchema(template.input_schema)
        problems = validator.problems(data, "input")
        if problems:
            raise InputError(f"input does not match {template.ref}: " + "; ".join(problems))
        coerced = coerce_to_schema(data, template.input_schema)
        assert isinstance(coerced, dict)
        return coerced

    def deliver(self, run_id: str, event: Event, actor: str = "system") -> engine.Decision:
        return self.deliver_many([Delivery(run_id, event, actor)])[0]

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[engine.Decision]:
        """Fold several facts, each into its run, in one transaction."""
        now = self.clock.now()
        after = self._after_commit(now)
        with self.store.transaction() as tx:
            decisions = [self._deliver_in(tx, d, now, after) for d in deliveries]
        self._committed(after)
        return decisions

    def _deliver_in(
        self,
        tx: SqlTransaction,
        delivery: Delivery,
        now: datetime,
        after: AfterCommit,
    ) -> engine.Decision:
        row = tx.run(delivery.run_id)
        if row is None:
            raise NotFoundError(f"no run '{delivery.run_id}'")
        template = self.template(row.template_id, row.template_version)
        run = codec.run_from_dict(row.state)
        decision = engine.advance(template, run, delivery.event, now)
        if decision.accepted:
            self._commit_decision(
                tx, template, row, delivery.event, decision, delivery.actor, now, after
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
        after: AfterCommit,
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
        saved = RunRow(
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
        )
        if row.revision == 0:  # a new run: written once, with its first fact
            tx.insert_run(saved)
        else:
            tx.update_run(saved, expected_revision=row.revision)
        tx.append_journal(
            JournalRow(run.id, run.seq, kind, body, list(decision.trace), actor, stamp, digest)
        )
        for command in decision.commands:
            self._apply(tx, run, command, stamp, after)
        if run.status.ended:
            after.ended.append(run.id)

    def _apply(
        self,
        tx: SqlTransaction,
        run: Run,
        command: cmd.Command,
        now: float,
        after: AfterCommit,
    ) -> None:
        if isinstance(command, cmd.RunAction):
            key = f"action:{command.step}:{command.attempt}"
            body = codec.command_to_dict(command)
            if not after.leases(run.id):
                tx.enqueue(run.id, key, "action", body, now, now)
            else:
                item_id = tx.enqueue(
                    run.id, key, "action", body, after.expires_at, now, lease_owner=after.owner
                )
                after.claimed.append(OutboxItem(item_id, run.id, key, "action", body, now, 1))
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
        after = self._after_commit(now)
        with self.store.transaction() as tx:
            for task_id, actor, outcome, role, comment in decisions:
                task = tx.task(task_id)
                if task is None:
                    raise NotFoundError(f"no task '{task_id}'")
                if task.status != "open":
                    raise ConflictError(f"task {task_id} is {task.status}")
                acting_role = role or next(iter(task.roles), "")
                event = TaskCompleted(task.step, task_id, actor, outcome, acting_role, comment)
                out.append(self._deliver_in(tx, Delivery(task.run_id, event, actor), now, after))
        self._committed(after)
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
        after = self._after_commit(now)
        with self.store.transaction() as tx:
            fresh = tx.record_inbound(
                source, event_id, event_type, key, json.dumps(data, sort_keys=True), now.timestamp()
            )
            if not fresh:
                return 0
            matched = tx.subscribers(event_type, key)
            for run_id, step in matched:
                received = EventReceived(step, event_type, key, data, event_id)
                self._deliver_in(tx, Delivery(run_id, received, f"event:{source}"), now, after)
            tx.set_inbound_matches(source, event_id, len(matched))
        self._committed(after)
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

    # ---- the local worker and wake-ups ---------------------------------------------------

    def attach_worker(self, local: LocalWorker) -> None:
        """Route new actions of this process's writes to ``local`` (one worker at a time)."""
        self._local = local

    def detach_worker(self, owner: str) -> None:
        local = self._local
        if local is not None and local.owner == owner:
            self._local = None

    def _after_commit(self, now: datetime) -> AfterCommit:
        local = self._local
        if local is None:
            return AfterCommit()
        return AfterCommit(local.owner, now.timestamp() + local.lease_s, local.run_prefix)

    def _committed(self, after: AfterCommit, *, hand_over: bool = True) -> int:
        """After a commit: hand born-leased actions to the local worker, then wake waiters.
        Returns the generation this commit made."""
        local = self._local
        if hand_over and after.claimed and local is not None and local.owner == after.owner:
            local.hand_over(after.claimed)
        with self._work_ready:
            for run_id in after.ended:
                self._ended[run_id] = None
            while len(self._ended) > _ENDED_REMEMBERED:
                self._ended.popitem(last=False)
            self._generation += 1
            self._work_ready.notify_all()
            return self._generation

    def wait_until_ended(self, run_id: str, timeout: float) -> bool:
        """Block until the run has ended or ``timeout`` passed; True if it ended.

        Runs ended by this process wake the caller at once; for runs that another process
        ends (or ended before the call), the database is read every quarter second.
        """
        started = time.monotonic()
        deadline = started + timeout
        looked = started  # the database is read at most every quarter second
        while True:
            with self._work_ready:
                if run_id in self._ended:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._work_ready.wait(min(remaining, 0.25))
                if run_id in self._ended:
                    return True
            if time.monotonic() - looked >= 0.25:
                looked = time.monotonic()
                with self.store.reader() as reader:
                    row = reader.run(run_id)
                if row is not None and row.status in ("completed", "cancelled"):
                    return True

    def wake(self) -> None:
        """Wake every thread waiting for work (e.g. a worker told to stop)."""
        self._notify()

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
