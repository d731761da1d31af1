"""Every exception Andon raises.

AndonError
├── TemplateError                 a template or overlay is malformed or fails validation
├── InputError                    a request carries bad data (run input, event data, CLI value)
├── ExpressionError               an expression failed to compile or to evaluate
├── NotFoundError                 no such template, run, task or step
├── ConflictError                 the request contradicts current state
│   ├── StaleRunError             the run changed since it was read
│   └── LeaseLostError            a worker's lease on outbox work expired and was taken over
├── GovernanceError               the actor may not do this
│   └── AuthenticationError       no valid credentials (unknown, expired or revoked token)
├── RateLimitedError              too many requests for this token; retry later
└── AdapterError                  an external system failed (the cause is chained)
    ├── StoreError
    └── ActionError               a named action failed; ``permanent`` says whether to retry
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AndonError(Exception):
    """Andon failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation finding, located as precisely as the source allows."""

    path: str
    message: str
    source: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.source or "<template>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class TemplateError(AndonError):
    """The template is not valid."""

    def __init__(self, problems: Sequence[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: tuple[Problem, ...] = (Problem("", problems),)
        else:
            self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(AndonError):
    """The input is not valid."""


class ContractViolation(InputError):
    """An event's type has no contract, or its data breaks the contract. Intake adapters
    keep such events as dead letters instead of losing them."""


class EnvelopeError(InputError, ValueError):
    """A message is not a valid event envelope; ``field`` names the part that is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class ExpressionError(AndonError):
    """The expression failed."""


class NotFoundError(AndonError):
    """No such object."""


class ConflictError(AndonError):
    """The request contradicts the current state."""


class StaleRunError(ConflictError):
    """The run changed since it was read."""


class LeaseLostError(ConflictError):
    """The lease on this work expired and another worker took it."""


class GovernanceError(AndonError):
    """The actor may not do this."""


class AuthenticationError(GovernanceError):
    """Not authenticated."""


class RateLimitedError(AndonError):
    """Too many requests."""

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AdapterError(AndonError):
    """An external system failed."""


class StoreError(AdapterError):
    """The database failed."""


class ActionError(AdapterError):
    """The action failed."""

    def __init__(self, message: str | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
