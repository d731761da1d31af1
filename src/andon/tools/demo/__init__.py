"""``andon demo``: a simulated group of plants driving the real runtime on a fast clock.

Three plants (DE-STR, US-GRR, IE-COR) raise supplier NCRs and purchase requisitions from the
DOMAIN.md §4 data for three weeks; simulated approvers, suppliers and ERP systems answer with
realistic delays and faults; the Andon service and worker run them on SQLite with a manual
clock. The summary covers only the runs this invocation started and contains simulated
figures only, so a seed prints the same text every time (wall time goes to stderr).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

import andon
from andon.bootstrap import build
from andon.config import Settings
from andon.core.loader import load_template
from andon.core.template import Template
from andon.errors import AndonError, ConflictError, InputError
from andon.governance.identity import Actor
from andon.runtime.clock import ManualClock
from andon.runtime.directory import DEFAULT_TENANT
from andon.runtime.service import Andon
from andon.tools.demo.actions import DemoActions
from andon.tools.demo.data import START
from andon.tools.demo.generate import NCR, PR, generate
from andon.tools.demo.report import render
from andon.tools.demo.sim import Simulation
from andon.tools.demo.staff import Staff
from andon.tools.demo.stats import Stats, collect

__all__ = ["DemoResult", "run_demo"]


@dataclass(frozen=True, slots=True)
class DemoResult:
    seed: int
    run_ids: tuple[str, ...]
    """The runs this invocation started (random ids: for look-ups, never for output)."""
    outcomes: tuple[tuple[str, str, int], ...]
    """(template, outcome, runs); runs that did not end show their status in brackets."""
    decisions: int
    escalations: int
    scar_timeouts: int
    scar_overdue: int
    retries: int
    incidents: int
    open_runs: int

    @property
    def runs(self) -> int:
        return len(self.run_ids)


def run_demo(settings: Settings, seed: int, out: Console, err: Console) -> DemoResult:
    """Run the simulation against the configured database and print its summary."""
    began = time.perf_counter()
    clock = ManualClock(START)
    app = build(settings, clock=clock, new_id=lambda: f"demo-{uuid.uuid4().hex[:12]}")
    try:
        admin = app.actor()
        actions = DemoActions(seed, clock)
        actions.register(app.actions)
        versions = publish_reference(app.service, admin, err)
        staff = Staff(app)
        staff.provision(
            role
            for template_id, version in versions.items()
            for role in app.service.template(admin, template_id, version).roles
        )
        base = existing_runs(app.service)
        cases = generate(seed, frozenset(versions), base)
        sim = Simulation(app, staff, clock, seed, cases, versions, actions)
        with progress_bar(err) as progress:
            bar = progress.add_task("plant time", total=len(cases))

            def tick(now: datetime, started: int, ended: int) -> None:
                progress.update(
                    bar,
                    completed=ended,
                    description=f"plant time {now:%a %d %b %H:%M} UTC, {started} runs started",
                )

            sim.run(tick)
        stats = collect(app.service, sim.run_ids)
        render(out, seed, stats)
    finally:
        app.close()
    err.print(
        f"demo: {len(sim.run_ids)} runs, {sim.turns} clock stops, "
        f"{sim.actions.calls} action calls, {time.perf_counter() - began:.1f} s wall time, "
        f"database {settings.store.sqlite_path}",
        markup=False,
        highlight=False,
    )
    return _result(seed, sim.run_ids, stats)


def reference_dir() -> Path:
    """The templates shipped with the source tree, else ./templates."""
    shipped = Path(andon.__file__).resolve().parents[2] / "templates"
    return shipped if shipped.is_dir() else Path.cwd() / "templates"


def publish_reference(service: Andon, admin: Actor, err: Console) -> dict[str, int]:
    """Publish the reference templates and overlays; return the demo's template versions.

    Files the demo does not need are published when they can be and skipped with a warning
    when they cannot, so one unfinished template elsewhere does not stop the demo.
    """
    folder = reference_dir()
    register_reference_contracts(service, admin, folder)
    versions: dict[str, int] = {}
    for path in sorted(folder.glob("*.yaml")):
        template = _publish(service, admin, path, err, needed=path.stem in (NCR, PR))
        if template is not None and template.id in (NCR, PR):
            versions[template.id] = template.version
    for path in sorted((folder / "overlays").glob("*.yaml")):
        try:
            service.publish_overlay(admin, path.read_text("utf-8"), str(path))
        except AndonError as exc:
            _warn(err, f"skipped overlay {path.name}: {_first_line(exc)}")
    if not versions:
        raise InputError(f"no {NCR} or {PR} template found in {folder}")
    err.print(f"demo: templates from {folder}", markup=False, highlight=False)
    return versions


def register_reference_contracts(service: Andon, admin: Actor, folder: Path) -> None:
    """Register the contracts of the events the reference templates read that the standard
    catalogue lacks (``<folder>/contracts/<type>.json``), so the templates can publish."""
    for path in sorted((folder / "contracts").glob("*.json")):
        service.register_contract(admin, path.stem, json.loads(path.read_text("utf-8")))


def _publish(
    service: Andon, admin: Actor, path: Path, err: Console, *, needed: bool
) -> Template | None:
    text = path.read_text("utf-8")
    try:
        return service.publish_template(admin, text, str(path))
    except ConflictError as exc:
        if not needed:
            _warn(err, f"skipped {path.name}: {_first_line(exc)}")
            return None
        stored = load_template(text, str(path))
        _warn(err, f"{stored.ref} in this database differs from {path}; using the stored one")
        return service.template(admin, stored.id, stored.version)
    except AndonError as exc:
        if needed:
            raise
        _warn(err, f"skipped {path.name}: {_first_line(exc)}")
        return None


def _warn(err: Console, message: str) -> None:
    err.print(f"demo: warning: {message}", markup=False, highlight=False)


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def existing_runs(service: Andon) -> int:
    with service.store.reader() as reader:
        return sum(reader.scoped(DEFAULT_TENANT).count_runs_by_status().values())


def progress_bar(err: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} ended"),
        console=err,
        transient=True,
    )


def _result(seed: int, run_ids: list[str], stats: Stats) -> DemoResult:
    outcomes: dict[tuple[str, str], int] = {}
    for (template, outcome, _), count in stats.outcomes.items():
        outcomes[(template, outcome)] = outcomes.get((template, outcome), 0) + count
    return DemoResult(
        seed=seed,
        run_ids=tuple(run_ids),
        outcomes=tuple((t, o, n) for (t, o), n in sorted(outcomes.items())),
        decisions=stats.decisions,
        escalations=sum(stats.escalations.values()),
        scar_timeouts=stats.scar["timed_out"],
        scar_overdue=stats.scar["overdue"],
        retries=sum(stats.retries.values()),
        incidents=sum(stats.incidents.values()),
        open_runs=stats.open_runs,
    )
