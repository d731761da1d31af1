"""The registry of named actions, the call each one receives, and the run's tenant's named
connections (settings plus a secret) that actions look up through the registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from andon import egress
from andon.core.json import JsonObject, JsonValue
from andon.errors import ActionError, AndonError, InputError, NotFoundError

DEFAULT_TENANT = "default"  # the installation's first tenant (runtime.directory)


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One attempt of one action step. ``idempotency_key`` (``run:step:activation``) is the
    same for every attempt of one visit of the step, re-deliveries after a worker crash
    included, so a receiver applies the step's effect once; ``attempt`` tells the tries
    apart (it rises with each). ``timeout_s`` is the time the action has left."""

    run_id: str
    step: str
    attempt: int
    idempotency_key: str
    input: JsonObject
    timeout_s: float | None
    tenant_id: str = DEFAULT_TENANT
    """The run's tenant: whose connections the action may use."""


Action = Callable[[ActionCall], JsonValue]


class Secret:
    """A secret that does not show itself: ``str`` and ``repr`` give ``***``, so it
    cannot slip into a log line, an error message or a traceback's locals by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it (an auth header, a login)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """A tenant's named connection, opened for one action call."""

    name: str
    kind: str
    settings: JsonObject
    secret: Secret | None = None


class ConnectionResolver(Protocol):
    def resolve(self, tenant_id: str, name: str) -> ConnectionConfig:
        """The connection, with its secret; ``NotFoundError`` when the tenant has none."""
        ...


TenantAllow = Callable[[str], Sequence[egress.Network]]
"""A tenant's egress allow-list (``EgressAllow.networks``)."""


class ActionRegistry:
    def __init__(
        self, connections: ConnectionResolver | None = None, allowed: TenantAllow | None = None
    ) -> None:
        self._actions: dict[str, Action] = {}
        self.connections = connections
        self.allowed = allowed

    def egress_client(self, call: ActionCall) -> egress.EgressClient:
        """The shared egress client for the run's tenant: the process's allow-list plus the
        tenant's own, never another tenant's."""
        return egress.client(self.allowed(call.tenant_id) if self.allowed else ())

    def connection(self, call: ActionCall, name: JsonValue, kind: str) -> ConnectionConfig:
        """The run's tenant's connection ``name`` of ``kind``. A missing or mistyped one is a
        permanent failure; a store that does not answer is worth another attempt."""
        if not isinstance(name, str) or not name:
            raise ActionError(f"'connection' must name a connection, got {name!r}", permanent=True)
        if self.connections is None:
            raise ActionError("this installation resolves no connections", permanent=True)
        try:
            found = self.connections.resolve(call.tenant_id, name)
        except NotFoundError as exc:
            raise ActionError(str(exc), permanent=True) from exc
        except AndonError as exc:
            raise ActionError(f"connection '{name}' could not be read: {exc}") from exc
        if found.kind != kind:
            raise ActionError(
                f"connection '{name}' is a {found.kind} connection, not {kind}", permanent=True
            )
        return found

    def register(self, name: str, action: Action) -> None:
        if name in self._actions:
            raise InputError(f"action '{name}' is already registered")
        self._actions[name] = action

    def get(self, name: str) -> Action:
        action = self._actions.get(name)
        if action is None:
            raise ActionError(f"no action named '{name}' is registered", permanent=True)
        return action

    def names(self) -> list[str]:
        return sorted(self._actions)

    def load_modules(self, modules: Iterable[str]) -> None:
        """Import each module and call its ``register(registry)``."""
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise InputError(f"cannot import action module '{name}': {exc}") from exc
            register = getattr(module, "register", None)
            if not callable(register):
                raise InputError(f"action module '{name}' has no register(registry) function")
            register(self)
