"""The registry of runtime operations that act for an ``Actor``.

Every public method of the runtime that reads or changes tenant data is declared here
with the permission it needs, so that the tenant-isolation tests can enumerate them: an
operation added without a test case fails that test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from andon.governance.authz import Permission

F = TypeVar("F", bound=Callable[..., object])

OPERATIONS: dict[str, Permission] = {}


def operation(permission: Permission) -> Callable[[F], F]:
    """Mark a method as a runtime operation guarded by ``permission``."""

    def mark(method: F) -> F:
        OPERATIONS[method.__qualname__] = permission
        return method

    return mark
