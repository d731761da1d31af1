"""The registry of named actions and the call each one receives."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from andon.core.json import JsonObject, JsonValue
from andon.errors import ActionError, InputError


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One attempt of one action step. ``idempotency_key`` is stable across re-deliveries
    of the same attempt, so a receiver can drop duplicates after a worker crash."""

    run_id: str
    step: str
    attempt: int
    idempotency_key: str
    input: JsonObject
    timeout_s: float | None


Action = Callable[[ActionCall], JsonValue]


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

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
