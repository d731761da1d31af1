"""What happens after a commit in this process: the local worker is handed the actions
born leased to it, and threads waiting for work or for a run to end are woken."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from andon.store.base import OutboxItem

_ENDED_REMEMBERED = 4096


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
    ended: list[tuple[str, str]] = field(default_factory=list)
    """(tenant, run id) of every run that reached its end."""
    room: int = 1_000_000
    """How many more actions the worker takes on now (back-pressure): beyond it, actions
    wait unleased in the outbox for any worker's claim."""

    def leases(self, run_id: str) -> bool:
        if self.owner is None or not run_id.startswith(self.run_prefix) or self.room <= 0:
            return False
        self.room -= 1
        return True


@dataclass(frozen=True, slots=True)
class LocalWorker:
    """A worker in this process that takes new actions straight from the transaction that
    creates them: they are born leased to it and handed over after commit, which saves a
    claim transaction and a poll on the way from a start or an approval to the action."""

    owner: str
    lease_s: float
    run_prefix: str
    hand_over: Callable[[list[OutboxItem]], None]
    room: Callable[[], int] = lambda: 1_000_000
    """How much more work the worker wants handed over (its bound on work in hand)."""


class Signals:
    """Commit generations, runs recently ended here, and the attached local worker."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._generation = 0
        self._ended: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._local: LocalWorker | None = None

    def attach(self, local: LocalWorker) -> None:
        self._local = local

    def detach(self, owner: str) -> None:
        local = self._local
        if local is not None and local.owner == owner:
            self._local = None

    def after_commit(self, now: float) -> AfterCommit:
        local = self._local
        if local is None:
            return AfterCommit()
        return AfterCommit(local.owner, now + local.lease_s, local.run_prefix, room=local.room())

    def committed(self, after: AfterCommit, *, hand_over: bool = True) -> int:
        """Hand born-leased actions to the local worker, then wake waiters; returns the
        generation this commit made."""
        local = self._local
        if hand_over and after.claimed and local is not None and local.owner == after.owner:
            local.hand_over(after.claimed)
        with self._ready:
            for ended in after.ended:
                self._ended[ended] = None
            while len(self._ended) > _ENDED_REMEMBERED:
                self._ended.popitem(last=False)
            self._generation += 1
            self._ready.notify_all()
            return self._generation

    @property
    def generation(self) -> int:
        return self._generation

    def wake(self) -> None:
        with self._ready:
            self._generation += 1
            self._ready.notify_all()

    def wait(self, timeout: float, since: int | None = None) -> bool:
        """Block until a commit after generation ``since`` or ``timeout``; True if woken."""
        with self._ready:
            if since is not None and self._generation != since:
                return True
            return self._ready.wait(timeout)

    def ended_here(self, tenant: str, run_id: str, timeout: float) -> bool:
        """Wait up to ``timeout`` for this process to end the tenant's run; True once it has
        (a run of another tenant never counts)."""
        key = (tenant, run_id)
        with self._ready:
            if key in self._ended:
                return True
            self._ready.wait(timeout)
            return key in self._ended
