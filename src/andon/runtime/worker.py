"""Workers claim due outbox rows under a lease, run them, and deliver the outcomes.

Outcomes of a whole batch are delivered in one transaction (group commit). A row is only
acted on if this worker still holds its lease when the outcome commits; a worker that was
paused past its lease finds the row gone or re-leased and drops its result.

A step's timeout is enforced while its action runs: an action past it is abandoned and
recorded as timed out (the step's retry policy applies), and the rest of the batch is
delivered without waiting for it (``action_threads``). A step without a timeout gets the
worker's default (``action_timeout_s``), so no hung call holds a thread for ever. Calls
still running when the rest of their batch has been delivered are carried over: the worker
takes on new work meanwhile and delivers their outcomes when they end or time out.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core import codec
from andon.core import commands as cmd
from andon.core.events import Event, StepFailed, StepSucceeded, TimerFired
from andon.core.json import is_json
from andon.errors import ActionError, AndonError
from andon.observability.tracing import Tracing
from andon.runtime import preparation
from andon.runtime.action_threads import ActionThreads, Call
from andon.runtime.facts import Delivery
from andon.runtime.notify import WEBHOOK, Attempt, Notifier
from andon.runtime.preparation import Prepared
from andon.runtime.service import Andon
from andon.runtime.signals import AfterCommit, LocalWorker
from andon.store.base import OutboxItem


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    batch: int = 64
    lease_s: float = 30.0
    poll_s: float = 0.25
    threads: int = 8
    run_prefix: str = ""
    """Only work for runs whose id starts with this (the demo keeps to its own runs)."""
    action_timeout_s: float | None = None
    """The timeout of action steps that set none (``ANDON_ACTION_TIMEOUT``); None: the
    default, ``DEFAULT_ACTION_TIMEOUT_S``."""


DEFAULT_ACTION_TIMEOUT_S = 300.0
"""An action step without a timeout is abandoned after this long: a call that hangs must end
some time, or it would hold a thread and its run for ever."""


Outcome = Event | Attempt
"""What running one outbox item gave: a fact for its run, or a webhook attempt."""

Running = tuple[OutboxItem, Call[Outcome]]

STRAGGLER_S = 0.1
"""How long the finished part of a batch waits for calls still running before it is
delivered without them (they are delivered on their own when they end or time out)."""


class Worker:
    def __init__(
        self,
        service: Andon,
        actions: ActionRegistry,
        settings: WorkerSettings | None = None,
        *,
        owner: str | None = None,
        draw: Callable[[], float] | None = None,
        on_error: Callable[[str], None] | None = None,
        notifier: Notifier | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.service = service
        self.actions = actions
        self.notifier = notifier
        self.tracing = tracing or Tracing()
        self.settings = settings or WorkerSettings()
        self.owner = owner or f"worker-{uuid.uuid4().hex[:8]}"
        self._draw = draw or random.random
        self._on_error = on_error or (lambda message: None)
        self._ready: list[OutboxItem] = []
        self._handed: deque[OutboxItem] = deque()  # appended by other threads after commit
        self._in_flight: list[OutboxItem] = []
        self._carried: list[Running] = []  # calls still running from earlier batches
        self._beat_lock = threading.Lock()
        self._beater: threading.Thread | None = None
        self._stopping = threading.Event()
        # The generation of our own last commit when its claim found nothing more: until
        # another commit or a wait, probing the outbox again cannot find work.
        self._drained_at: int | None = None
        self._threads: ActionThreads[Outcome] = ActionThreads(self.settings.threads)
        limit = self.settings.action_timeout_s
        self._action_timeout_s = DEFAULT_ACTION_TIMEOUT_S if limit is None else limit

    def run_once(self) -> int:
        """Run one batch of due work and deliver the outcomes. Returns the batch size.

        The batch is what the previous delivery leased to this worker (its own follow-up
        actions plus newly due rows), or a fresh claim when there is none. It returns once
        every call has ended or timed out, calls carried over by ``run_forever`` included.
        """
        items = self._take()
        pending, self._carried = [*self._carried, *self._start(items)], []
        while pending:
            _, pending = self._finish(pending, [])
        return len(items)

    def _turn(self) -> int:
        """One step of ``run_forever``: start a batch and deliver what has ended; calls still
        running are carried over, so they hold up no new work. Returns how many items it
        started or delivered."""
        items = self._take()
        fresh = self._start(items)
        carried, self._carried = self._carried, []  # given up if the delivery fails
        delivered, self._carried = self._finish(fresh, carried)
        old = {call for _, call in carried}
        for _, call in self._carried:
            if call not in old:  # newly carried: its end wakes the worker
                call.future.add_done_callback(self._wake)
        return len(items) + delivered

    def _take(self) -> list[OutboxItem]:
        """Due work up to a batch, less the calls still running: what is leased to this
        worker already, or else a claim."""
        room = self.settings.batch - len(self._carried)
        if room <= 0:
            return []
        waiting = [*self._ready]
        while self._handed:
            waiting.append(self._handed.popleft())
        items, self._ready = _fair_batch(waiting, room)
        if items:
            return items
        now = self.service.clock.now().timestamp()
        store = self.service.store
        if not store.concurrent_writers:  # do not take the single write lock for nothing
            with store.reader() as reader:
                if not reader.any_due(now, self.settings.run_prefix):
                    return []
        with store.transaction() as tx:
            return tx.claim(self.owner, now, self.settings.lease_s, room, self.settings.run_prefix)

    def _start(self, items: list[OutboxItem]) -> list[Running]:
        """Submit the items to the threads; their leases are renewed while they run (every
        third of the lease time, by one thread per worker), so an action slower than the
        lease is not taken over."""
        with self._beat_lock:
            self._in_flight += items
            if self._beater is None and items:
                self._beater = threading.Thread(target=self._beat, name="andon-lease", daemon=True)
                self._beater.start()
        return [(item, self._submit(item)) for item in items]

    def _finish(self, fresh: list[Running], carried: list[Running]) -> tuple[int, list[Running]]:
        """Settle the calls and deliver the outcomes of those that ended; give how many were
        delivered and the calls still running."""
        settled, running = self._threads.settle(fresh, carried, self._timed_out, STRAGGLER_S)
        self._let_go([item for item, _ in settled])
        try:
            if settled:
                self._ready += self._deliver(settled, busy=len(running))
        except BaseException:  # the running calls' outcomes have nowhere to go now
            self._let_go([item for item, _ in running])
            raise
        return len(settled), running

    def _submit(self, item: OutboxItem) -> Call[Outcome]:
        timeout = None
        if item.kind == "action":
            limit = item.body.get("timeout")
            timeout = float(limit) if isinstance(limit, int | float) else self._action_timeout_s
        return self._threads.submit(lambda call: self._execute(item, call), timeout)

    def _wake(self, _: Future[Outcome]) -> None:
        self.service.wake()

    def _let_go(self, items: list[OutboxItem]) -> None:
        """Stop renewing the leases of items being delivered (or given up)."""
        done = {item.id for item in items}
        with self._beat_lock:
            self._in_flight = [item for item in self._in_flight if item.id not in done]

    def _beat(self) -> None:
        while not self._stopping.wait(self.settings.lease_s / 3):
            with self._beat_lock:
                items = list(self._in_flight)
            if not items:
                continue
            expires = self.service.clock.now().timestamp() + self.settings.lease_s
            try:
                with self.service.store.transaction() as tx:
                    for item in sorted(items, key=lambda i: i.id):  # the release's lock order
                        tx.extend_lease(item, self.owner, expires)
            except AndonError as exc:
                self._on_error(f"lease renewal failed: {exc}")

    def _deliver(
        self, results: list[tuple[OutboxItem, Outcome]], busy: int = 0
    ) -> list[OutboxItem]:
        """Deliver outcomes in one transaction and lease the next batch in it too (less the
        ``busy`` calls still running)."""
        service = self.service
        now = service.clock.now()
        stamp = now.timestamp()
        after = AfterCommit(self.owner, stamp + self.settings.lease_s, self.settings.run_prefix)
        try:
            ahead = self._prepare(results, now)
            with service.store.transaction() as tx:
                held = tx.release_all([item for item, _ in results], self.owner)
                held_runs: dict[str, list[str]] = {}
                for item, _ in results:
                    if item.id in held:
                        held_runs.setdefault(item.tenant_id, []).append(item.run_id)
                for tenant, run_ids in sorted(held_runs.items()):
                    tx.scoped(tenant).lock_runs(run_ids)
                for item, event in results:
                    if item.id not in held:
                        continue  # lease lost: another worker owns this row now
                    # Worker facts never conflict (a stale outcome is simply not accepted),
                    # so no savepoint is needed; anything unexpected rolls the batch back
                    # and the leases expire for another try.
                    scoped = tx.scoped(item.tenant_id)
                    if isinstance(event, Attempt):
                        assert self.notifier is not None
                        self.notifier.record(scoped, item, event, stamp)
                    else:
                        delivery = _delivery(item, event)
                        service.facts.deliver(scoped, delivery, now, after, prepared=ahead[item.id])
                tx.flush()  # the follow-up actions leased to us are counted once written
                room = self.settings.batch - len(after.claimed) - len(self._ready) - busy
                if room > 0:
                    after.claimed.extend(
                        tx.claim(
                            self.owner, stamp, self.settings.lease_s, room, self.settings.run_prefix
                        )
                    )
        except BaseException:
            service.signals.committed(AfterCommit())  # wake waiters all the same
            raise
        generation = service.signals.committed(after, hand_over=False)
        self._drained_at = None if after.claimed else generation
        return after.claimed

    def _prepare(
        self, results: list[tuple[OutboxItem, Outcome]], now: datetime
    ) -> dict[int, Prepared | None]:
        """Fold the outcomes into their runs before the write lock is taken (ADR 0028)."""
        facts = [(item, e) for item, e in results if not isinstance(e, Attempt)]
        wanted = [(item.tenant_id, _delivery(item, e)) for item, e in facts]
        folds = preparation.deliveries(self.service.templates, wanted, now)
        return {item.id: fold for (item, _), fold in zip(facts, folds, strict=True)}

    def _execute(self, item: OutboxItem, call: Call[Outcome] | None = None) -> Outcome:
        if item.kind == WEBHOOK:
            if self.notifier is None:
                return Attempt(None, 0.0, "this worker delivers no webhooks")
            return self.notifier.attempt(item)
        if item.kind == "timer":
            return TimerFired(str(item.body["key"]))
        command = codec.command_from_dict(item.body)
        assert isinstance(command, cmd.RunAction)
        with self.tracing.action(
            item.tenant_id, item.run_id, command.step, command.attempt, command.action
        ) as span:
            outcome = self._act(item, command, call)
            span.record(outcome)
        return outcome

    def _act(self, item: OutboxItem, command: cmd.RunAction, on: Call[Outcome] | None) -> Event:
        timeout = command.timeout.total_seconds() if command.timeout else None
        if on is not None:  # on the threads: the step's timeout, or else the default
            timeout = on.timeout_s
        call = ActionCall(
            item.run_id,
            command.step,
            command.attempt,
            command.idempotency_key,
            command.input,
            timeout if on is None else on.left_s(),  # the time left: it bounds its I/O by it
            tenant_id=item.tenant_id,
        )
        started = time.monotonic()
        try:
            output = self.actions.get(command.action)(call)
        except ActionError as exc:
            return StepFailed(
                command.step, command.attempt, str(exc), permanent=exc.permanent, draw=self._draw()
            )
        except AndonError as exc:
            return StepFailed(command.step, command.attempt, str(exc), draw=self._draw())
        except Exception as exc:  # an action's own bug is data for the retry policy
            return StepFailed(
                command.step, command.attempt, f"{type(exc).__name__}: {exc}", draw=self._draw()
            )
        if timeout is not None and time.monotonic() - started > timeout:
            return self._timeout_of(command, timeout)
        if not is_json(output):
            return StepFailed(
                command.step,
                command.attempt,
                f"action returned a non-JSON value of type {type(output).__name__}",
                permanent=True,
                draw=self._draw(),
            )
        return StepSucceeded(command.step, command.attempt, output)

    def _timed_out(self, item: OutboxItem, call: Call[Outcome]) -> Outcome:
        command = codec.command_from_dict(item.body)
        assert isinstance(command, cmd.RunAction) and call.timeout_s is not None
        return self._timeout_of(command, call.timeout_s)

    def _timeout_of(self, command: cmd.RunAction, timeout: float) -> StepFailed:
        error = f"timed out after {timeout}s"
        if command.timeout is None:
            error += " (the default action timeout)"
        return StepFailed(command.step, command.attempt, error, timed_out=True, draw=self._draw())

    def run_forever(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; sleep until woken or the next poll when idle.

        While it runs, it is the service's local worker: actions created by writes in this
        process are leased to it in their own transaction and handed over without a claim.
        """
        local = LocalWorker(
            self.owner,
            self.settings.lease_s,
            self.settings.run_prefix,
            self._handed.extend,
            lambda: (
                2 * self.settings.batch - len(self._handed) - len(self._ready) - len(self._carried)
            ),
        )
        self.service.attach_worker(local)
        listen = getattr(self.service.store, "listen", None)
        if listen is not None:
            listen(self.service.wake)  # other processes' commits wake this worker at once
        try:
            self._work_until(stop)
        finally:
            self.service.detach_worker(self.owner)

    def _work_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            seen = self.service.generation
            done = 0
            if self._ready or self._handed or self._carried or self._drained_at != seen:
                try:
                    done = self._turn()
                except AndonError as exc:
                    self._on_error(str(exc))
                    stop.wait(self.settings.poll_s)
            if done == 0:
                self.service.wait_for_work(self._idle_s(), since=seen)
                self._drained_at = None  # time passed: timers may be due now
        pending, self._carried = self._carried, []
        try:  # the calls in hand are finished, bounded by their timeouts
            while pending:
                _, pending = self._finish(pending, [])
        except AndonError as exc:
            self._on_error(str(exc))

    def _idle_s(self) -> float:
        """Until the next poll, or the first deadline of a call carried over if sooner."""
        now = time.monotonic()
        ends = [d - now for _, c in self._carried if (d := c.deadline) is not None]
        return max(0.0, min([self.settings.poll_s, *ends]))

    def close(self) -> None:
        """Stop: leases on work this worker holds but has not started go back at once, so
        another worker takes it without waiting for the leases to expire."""
        self._stopping.set()
        if self._beater is not None:
            self._beater.join(timeout=5)
        self._threads.shutdown()
        held = [*self._ready, *self._handed]
        self._ready, self._handed = [], deque()
        if held:
            now = self.service.clock.now().timestamp()
            with self.service.store.transaction() as tx:
                for item in held:
                    tx.unlease(item, self.owner, now)


def _fair_batch(waiting: list[OutboxItem], size: int) -> tuple[list[OutboxItem], list[OutboxItem]]:
    """Up to ``size`` items taken round-robin across tenants (oldest first within each);
    the rest wait for the next batch (they stay leased to this worker)."""
    if len(waiting) <= size:
        return waiting, []
    queues: dict[str, list[OutboxItem]] = {}
    for item in sorted(waiting, key=lambda i: i.id):
        queues.setdefault(item.tenant_id, []).append(item)
    batch: list[OutboxItem] = []
    while len(batch) < size:
        for queue in queues.values():
            if queue and len(batch) < size:
                batch.append(queue.pop(0))
    chosen = {i.id for i in batch}
    return batch, [i for i in waiting if i.id not in chosen]


def _delivery(item: OutboxItem, event: Event) -> Delivery:
    return Delivery(item.run_id, event, "worker")
