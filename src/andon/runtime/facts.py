"""Folding one fact into its run inside a transaction: journal it (hash-chained), save
the snapshot, and write the resulting commands. Nothing leaves the process before commit.

The engine's decision (conditions, mappings, decision tables: CEL within its budget) is
computed ahead from a read (``preparation``) and reused in the transaction while the run is
unchanged (ADR 0028), so other writers never wait for an evaluation. ``tx`` is always
scoped to the run's tenant.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from andon.core import codec, engine
from andon.core import commands as cmd
from andon.core.events import Event, EventReceived, PolicyViolated, RunStarted
from andon.core.json import JsonObject
from andon.core.overlay import Overlay, resolve
from andon.core.run import Run
from andon.core.template import Template
from andon.errors import NotFoundError
from andon.governance import audit
from andon.runtime import lifecycle
from andon.runtime.signals import AfterCommit
from andon.runtime.templates import TemplateCache
from andon.store.base import JournalRow, OutboxItem, OverlayRow, RunRow, TaskRow
from andon.store.transaction import SqlTransaction

if TYPE_CHECKING:  # preparation.py builds on this module
    from andon.runtime.preparation import Prepared, PreparedStart


@dataclass(frozen=True, slots=True)
class StartRequest:
    template_id: str
    input: JsonObject
    plant: str = ""
    version: int | None = None
    run_id: str | None = None
    stage: str | None = None
    """Start the version in force at this stage (not with ``version``); by default the
    one in force at the live stage, or the latest of an unmanaged template (ADR 0031)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    run_id: str
    event: Event
    actor: str = "system"


def triggered_run_id(tenant: str, source: str, event_id: str, template_id: str) -> str:
    """The id of the run an event starts through a template's trigger: derived, so that
    the same event taken in twice cannot start the run twice."""
    digest = hashlib.sha256(f"{tenant}\0{source}\0{event_id}\0{template_id}".encode())
    return "e" + digest.hexdigest()[:23]


def first_fact(
    templates: TemplateCache,
    tenant: str,
    template: Template,
    overlay: Overlay | None,
    request: StartRequest,
    actor: str,
) -> RunStarted:
    """The fact that starts a run of ``template`` (its input checked against the schema)."""
    return RunStarted(
        template.id,
        template.version,
        overlay.digest if overlay else "",
        request.plant,
        templates.checked_input(tenant, template, request.input),
        resolve(template, overlay),
        actor,
    )


def overlay_of(found: OverlayRow | None) -> Overlay | None:
    return Overlay(found.template_id, found.plant, found.params, found.digest) if found else None


class Notifications(Protocol):
    def emit(
        self, tx: SqlTransaction, event_type: str, subject: str, data: JsonObject, now: float
    ) -> int: ...


class FactWriter:
    def __init__(self, templates: TemplateCache) -> None:
        self.templates = templates
        self.notifications: Notifications | None = None
        """Outbound webhooks, written in the same transaction as the fact."""

    def start(
        self,
        tx: SqlTransaction,
        request: StartRequest,
        run_id: str,
        actor: str,
        now: datetime,
        after: AfterCommit,
        prepared: PreparedStart | None = None,
    ) -> RunRow:
        version, pinned = lifecycle.chosen(
            tx, request.template_id, request.plant, request.version, request.stage
        )
        template = self.templates.for_start(tx, request.template_id, version)
        overlay = overlay_of(lifecycle.overlay_for(tx, template.id, request.plant, pinned))
        if prepared is not None and prepared.fits(request, run_id, actor, now, template, overlay):
            started, decision = prepared.started, prepared.decision
        else:  # nothing prepared, or a version or overlay was published since
            started = first_fact(self.templates, tx.tenant, template, overlay, request, actor)
            decision = engine.advance(template, Run(run_id), started, now)
        stamp = now.timestamp()
        fresh = RunRow(
            run_id, template.id, template.version, started.overlay_digest, request.plant,
            "created", None, {}, 0, 0, audit.GENESIS, actor, stamp, stamp, None,
        )  # fmt: skip
        return self.commit(tx, template, fresh, started, decision, actor, now, after)

    def deliver(
        self,
        tx: SqlTransaction,
        delivery: Delivery,
        now: datetime,
        after: AfterCommit,
        row: RunRow | None = None,
        prepared: Prepared | None = None,
    ) -> engine.Decision:
        """Fold one fact; ``row`` is the run as already read in this transaction, if so;
        ``prepared`` its fold computed ahead, used if the run has not changed since."""
        row = row or tx.run(delivery.run_id)
        if row is None:
            raise NotFoundError(f"no run '{delivery.run_id}'")
        template = self.templates.get(tx.tenant, row.template_id, row.template_version)
        if prepared is not None and prepared.fits(row, delivery, now):
            decision = prepared.decision
        else:  # nothing prepared, or another writer changed the run since it was read
            run = codec.run_from_dict(row.state)
            decision = engine.advance(template, run, delivery.event, now)
        if decision.accepted:
            self.commit(tx, template, row, delivery.event, decision, delivery.actor, now, after)
        return decision

    def commit(
        self,
        tx: SqlTransaction,
        template: Template,
        row: RunRow,
        event: Event,
        decision: engine.Decision,
        actor: str,
        now: datetime,
        after: AfterCommit,
    ) -> RunRow:
        run = decision.run
        stamp = now.timestamp()
        body = codec.event_to_dict(event)
        kind = str(body.pop("type"))
        trace = list(decision.trace)
        record = audit.journal_record(
            tx.tenant, run.id, run.seq, kind, body, list(trace), actor, stamp
        )
        digest = audit.chain_hash(row.last_hash, record)
        saved = RunRow(
            run.id,
            row.template_id,
            template.version,  # the version folded with: a migration changes it
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
        tx.append_journal(JournalRow(run.id, run.seq, kind, body, trace, actor, stamp, digest))
        for command in decision.commands:
            self._apply(tx, run, command, stamp, after)
        if run.status.ended:
            after.ended.append((tx.tenant, run.id))
        if self.notifications is not None:
            self._notify(tx, template, run, event, decision.commands, stamp)
        return self._take_early_events(tx, template, saved, decision.commands, now, after)

    def _take_early_events(
        self,
        tx: SqlTransaction,
        template: Template,
        row: RunRow,
        commands: tuple[cmd.Command, ...],
        now: datetime,
        after: AfterCommit,
    ) -> RunRow:
        """Deliver to each wait that began here an event that arrived before it (delivery
        out of order); the correlation lock taken on subscribing makes this exact.

        Folded here, not ahead: which early event answers a wait is known only under that
        lock, and the case is rare (an event that came before the run waited for it)."""
        for command in commands:
            if not isinstance(command, cmd.AwaitEvent) or command.since is None:
                continue
            found = [
                (source, event_id, data)
                for source, event_id, data in tx.early_events(
                    row.run_id, command.event_type, command.key, command.since.timestamp()
                )
                if triggered_run_id(tx.tenant, source, event_id, row.template_id) != row.run_id
            ]  # the event that started this run is not also an answer to its waits
            if not found:
                continue
            source, event_id, data = found[0]
            tx.count_inbound_match(source, event_id)
            event = EventReceived(
                command.step, command.event_type, command.key, json.loads(data), event_id
            )
            decision = engine.advance(template, codec.run_from_dict(row.state), event, now)
            if decision.accepted:
                row = self.commit(tx, template, row, event, decision, f"event:{source}", now, after)
        return row

    def _notify(
        self,
        tx: SqlTransaction,
        template: Template,
        run: Run,
        event: Event,
        commands: tuple[cmd.Command, ...],
        now: float,
    ) -> None:
        """Tell subscribers what people and systems outside care about."""
        assert self.notifications is not None
        emit = self.notifications.emit
        for command in commands:
            if isinstance(command, cmd.OpenTask):
                emit(tx, "andon.task.assigned", run.id, {
                    "run_id": run.id, "task_id": command.task_id, "step": command.step,
                    "title": command.title, "roles": list(command.roles), "plant": run.plant,
                    "due_at": command.due_at.timestamp() if command.due_at else None,
                }, now)  # fmt: skip
            elif isinstance(command, cmd.EscalateTask):
                emit(tx, "andon.task.escalated", run.id, {
                    "run_id": run.id, "task_id": command.task_id, "step": command.step,
                    "role": command.role, "level": command.level,
                }, now)  # fmt: skip
        if run.status.ended:
            kind = (
                "andon.run.completed" if run.status.value == "completed" else "andon.run.cancelled"
            )
            emit(tx, kind, run.id, {"run_id": run.id, "template": template.ref,
                                    "outcome": run.outcome, "plant": run.plant}, now)  # fmt: skip
        if isinstance(event, PolicyViolated):
            emit(tx, "andon.policy.violated", run.id, {
                "run_id": run.id, "task_id": event.task_id, "actor": event.actor,
                "attempted": event.attempted, "rule": event.rule, "message": event.message,
            }, now)  # fmt: skip

    def _apply(
        self, tx: SqlTransaction, run: Run, command: cmd.Command, now: float, after: AfterCommit
    ) -> None:
        if isinstance(command, cmd.RunAction):
            key = f"action:{command.step}:{command.attempt}"
            body = codec.command_to_dict(command)
            if not after.leases(run.id):
                tx.enqueue(run.id, key, "action", body, now, now)
            else:
                tenant = tx.tenant

                def hand_over(item_id: int) -> None:
                    item = OutboxItem(item_id, tenant, run.id, key, "action", body, now, 1)
                    after.claimed.append(item)

                tx.enqueue(
                    run.id, key, "action", body, after.expires_at, now,
                    lease_owner=after.owner, on_id=hand_over,
                )  # fmt: skip
        elif isinstance(command, cmd.StartTimer):
            tx.enqueue(
                run.id, command.key, "timer", {"key": command.key}, command.due_at.timestamp(), now
            )
        elif isinstance(command, cmd.CancelTimer):
            tx.dequeue(run.id, command.key)
        elif isinstance(command, cmd.OpenTask):
            due = command.due_at.timestamp() if command.due_at else None
            tx.insert_task(
                TaskRow(
                    command.task_id, run.id, command.step, command.title, run.plant,
                    list(command.roles), command.quorum, "open", None, 0, [], now, due, None,
                )
            )  # fmt: skip
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
            expires = command.expires_at.timestamp() if command.expires_at else None
            tx.lock_correlation(command.event_type, command.key)
            tx.subscribe(run.id, command.step, command.event_type, command.key, now, expires)
        elif isinstance(command, cmd.StopAwaiting):
            tx.unsubscribe(run.id, command.step)
        else:
            tx.end_run_work(run.id, now)
