"""The template page's batch migration (ADR 0032): the form as last posted, and what
happened to each run, or why the whole batch was refused."""

from __future__ import annotations

from dataclasses import dataclass

from andon.runtime.run_migration import Outcome, Result


@dataclass(frozen=True, slots=True)
class Batch:
    from_version: int
    to_version: int
    mapping: str = ""
    """``OLD_STEP=NEW_STEP`` lines, as typed."""
    plant: str = ""
    dry_run: bool = False
    results: tuple[Result, ...] | None = None
    """One per run considered; None until the form is posted."""
    refusal: tuple[str, str] | None = None
    """(title, detail) when the batch as a whole was refused: nothing was judged."""

    @property
    def moved(self) -> int:
        return sum(r.outcome is not Outcome.REFUSED for r in self.results or ())

    @property
    def refused(self) -> int:
        return sum(r.outcome is Outcome.REFUSED for r in self.results or ())
