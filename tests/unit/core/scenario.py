"""Builders and a scenario driver for engine tests: facts in, run state and commands out.

``drive(..., roundtrip=True)`` re-encodes the run after every fact, the way the store does,
so a test proves the engine never depends on state that does not survive serialisation.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from andon.core import codec, engine
from andon.core.commands import Command
from andon.core.events import Event, RunStarted
from andon.core.json import JsonObject, JsonValue
from andon.core.loader import load_template
from andon.core.run import Run
from andon.core.template import Template

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "templates"
FIXTURES = ROOT / "tests" / "fixtures"

Fact = Event | tuple[timedelta, Event]
"""A fact delivered at ``T0``, or at ``T0 + offset``."""


def template(text: str, source: str = "inline.yaml") -> Template:
    """Load an inline YAML template (indentation of the literal is removed)."""
    return load_template(textwrap.dedent(text), source)


def supplier_ncr() -> Template:
    path = TEMPLATES / "supplier-ncr.yaml"
    return load_template(path.read_text(), path.name)


def defaults(t: Template) -> JsonObject:
    """The template's parameter defaults, as a plant without an overlay runs it."""
    return {name: p.default for name, p in t.parameters.items()}


def started(t: Template, data: JsonObject | None = None, **params: JsonValue) -> RunStarted:
    values = defaults(t)
    values.update(params)
    return RunStarted(t.id, t.version, "", "DE-STR", data or {}, values)


def start(
    t: Template, data: JsonObject | None = None, *, run_id: str = "r1", now: datetime = T0
) -> engine.Decision:
    return engine.advance(t, Run(run_id), started(t, data), now)


def step(t: Template, run: Run, event: Event, after: timedelta = timedelta(0)) -> engine.Decision:
    """Deliver one fact at ``T0 + after``."""
    return engine.advance(t, run, event, T0 + after)


def reencode(run: Run) -> Run:
    """What the store hands back after saving ``run``: dict -> JSON text -> dict -> Run."""
    return codec.run_from_dict(json.loads(json.dumps(codec.run_to_dict(run))))


@dataclass
class Scenario:
    run: Run
    decisions: list[engine.Decision] = field(default_factory=list)

    @property
    def commands(self) -> list[Command]:
        return [c for d in self.decisions for c in d.commands]

    @property
    def traces(self) -> list[JsonObject]:
        return [t for d in self.decisions for t in d.trace]

    @property
    def last(self) -> engine.Decision:
        return self.decisions[-1]

    def changes(self, step_id: str) -> list[object]:
        """The trace ``change`` entries of one step, in order."""
        return [t["change"] for t in self.traces if t["step"] == step_id]


def drive(
    t: Template,
    facts: Sequence[Fact],
    *,
    run: Run | None = None,
    roundtrip: bool = False,
) -> Scenario:
    """Deliver ``facts`` in order, starting from ``run`` (a fresh run ``r1`` by default)."""
    current = run or Run("r1")
    scenario = Scenario(current)
    for fact in facts:
        offset, event = fact if isinstance(fact, tuple) else (timedelta(0), fact)
        decision = engine.advance(t, current, event, T0 + offset)
        scenario.decisions.append(decision)
        current = reencode(decision.run) if roundtrip else decision.run
        if roundtrip:
            assert current == decision.run, "the run changed when encoded and decoded"
    scenario.run = current
    return scenario


def drive_both(t: Template, facts: Sequence[Fact], *, run: Run | None = None) -> Scenario:
    """Drive with and without round-tripping and insist both give the same result."""
    plain = drive(t, facts, run=run)
    saved = drive(t, facts, run=run, roundtrip=True)
    assert saved.run == plain.run
    assert saved.commands == plain.commands
    assert saved.traces == plain.traces
    assert [d.accepted for d in saved.decisions] == [d.accepted for d in plain.decisions]
    return plain
