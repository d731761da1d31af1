"""The threads a worker runs its outbox items on, and the deadlines of timed actions.

A timed action that overruns its step's timeout is abandoned: the worker records the
timeout and goes on without it. Python cannot stop a thread, so the one stuck in the call
is left to finish on its own and a new thread takes its place: a hung action costs the
worker no capacity. When the abandoned call does return, its result is dropped and its
thread ends. ``settle`` waits for a batch of calls without being held up by those that hang.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R")
K = TypeVar("K")


@dataclass(eq=False)  # identity: one call, one future
class Call(Generic[R]):
    """One piece of work on the threads; ``timeout_s`` counts from when a thread starts it."""

    work: Callable[[Call[R]], R]
    timeout_s: float | None = None
    future: Future[R] = field(default_factory=Future)
    started: float | None = None
    """``time.monotonic()`` when a thread took it up; None while it waits for one."""
    abandoned: bool = False
    finished: bool = False
    thread: threading.Thread | None = None

    @property
    def deadline(self) -> float | None:
        if self.timeout_s is None or self.started is None:
            return None
        return self.started + self.timeout_s

    def left_s(self) -> float | None:
        """The time this call has left (for the action to bound its own I/O by)."""
        deadline = self.deadline
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def overdue(self, now: float) -> bool:
        deadline = self.deadline
        return deadline is not None and now >= deadline


class ActionThreads(Generic[R]):
    """``size`` threads taking calls in order; ``abandon`` replaces the thread of a call."""

    def __init__(self, size: int, name: str = "andon-action") -> None:
        self._calls: queue.SimpleQueue[Call[R] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._name = name
        self._live: set[threading.Thread] = set()
        self._spawned = 0
        for _ in range(max(1, size)):
            self._spawn()

    @property
    def live(self) -> int:
        """Threads serving calls, those stuck in abandoned calls not counted."""
        with self._lock:
            return len(self._live)

    def submit(self, work: Callable[[Call[R]], R], timeout_s: float | None = None) -> Call[R]:
        call: Call[R] = Call(work, timeout_s)
        self._calls.put(call)
        return call

    def abandon(self, call: Call[R]) -> None:
        """Give up on a started call: its thread is replaced and its late result dropped."""
        with self._lock:
            if call.abandoned or call.finished:  # done just now: its thread carries on
                call.abandoned = True
                return
            call.abandoned = True
            if call.thread is not None:
                self._live.discard(call.thread)
            self._spawn()

    def settle(
        self,
        fresh: list[tuple[K, Call[R]]],
        carried: list[tuple[K, Call[R]]],
        overdue: Callable[[K, Call[R]], R],
        straggler_s: float,
    ) -> tuple[list[tuple[K, R]], list[tuple[K, Call[R]]]]:
        """Wait until the ``fresh`` calls have ended or timed out, or others ended
        ``straggler_s`` ago; give the results of the calls settled and the calls still
        running. A call past its timeout is abandoned and settled with ``overdue(key, call)``
        at once; the calls ``carried`` over from earlier batches are not waited for."""
        give_up_at: float | None = None
        old = {call for _, call in carried}
        while True:
            now = time.monotonic()
            settled: list[tuple[K, R]] = []
            running: list[tuple[K, Call[R]]] = []
            abandoned = False
            for key, call in [*carried, *fresh]:
                if call.future.done():
                    settled.append((key, call.future.result()))
                elif call.overdue(now):
                    self.abandon(call)  # its late result goes nowhere
                    settled.append((key, overdue(key, call)))
                    abandoned = True
                else:
                    running.append((key, call))
            if abandoned or all(call in old for _, call in running):
                return settled, running
            if give_up_at is None and settled:
                give_up_at = now + straggler_s
            elif give_up_at is not None and now >= give_up_at:
                return settled, running
            ends = [d for _, c in running if (d := c.deadline) is not None]
            if give_up_at is not None:
                ends.append(give_up_at)
            wake = max(0.0, min(ends) - now) if ends else None
            wait([c.future for _, c in running], timeout=wake, return_when=FIRST_COMPLETED)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop the threads after the calls already given to them; abandoned ones are not
        waited for."""
        with self._lock:
            live = list(self._live)
        for _ in live:
            self._calls.put(None)
        for thread in live:
            thread.join(timeout_s)

    def _spawn(self) -> None:
        self._spawned += 1
        thread = threading.Thread(
            target=self._serve, name=f"{self._name}-{self._spawned}", daemon=True
        )
        self._live.add(thread)
        thread.start()

    def _serve(self) -> None:
        me = threading.current_thread()
        while (call := self._calls.get()) is not None:
            if not call.future.set_running_or_notify_cancel():
                continue
            call.thread, call.started = me, time.monotonic()
            done: Future[R] = Future()  # the outcome, handed on once the books are kept
            try:
                done.set_result(call.work(call))
            except BaseException as exc:  # handed to whoever waits on the call
                done.set_exception(exc)
            with self._lock:
                call.finished = True
                replaced = call.abandoned  # a replacement serves in this thread's place
            if done.exception() is None:
                call.future.set_result(done.result())
            else:
                call.future.set_exception(done.exception())
            if replaced:
                return
        with self._lock:
            self._live.discard(me)
