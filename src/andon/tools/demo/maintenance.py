"""``andon demo --scenario maintenance``: machines stop, Andon escalates, the line recovers.

Two machines go to Held with a stop reason: CNC-07 over OPC UA and, when an MQTT broker is
at hand, CNC-08 as a Sparkplug B edge node (its case opens once the stop outlasts the
two-minute debounce). Each stop opens a maintenance-escalation case; a corrective work order
goes to a simulated CMMS through the HTTP connector; the escalation ladder runs on a fast
clock while the machines stay down; when a machine is back in Execute and the CMMS reports
its work order completed, its case closes.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from rich.console import Console

from andon import egress
from andon.actions.http import http_request
from andon.actions.registry import ActionCall
from andon.bootstrap import App, build
from andon.config import Settings
from andon.core.json import JsonObject, JsonValue
from andon.errors import ConflictError
from andon.governance.identity import Actor
from andon.runtime.clock import ManualClock
from andon.runtime.service import Andon
from andon.runtime.worker import WorkerSettings
from andon.tools.demo import reference_dir, register_reference_contracts
from andon.tools.demo.machines import EXECUTE, PLANT, Cmms, reachable, shop_floor, wait_for

TEMPLATE = "maintenance-escalation"
START = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
HELD = 11
DEFAULT_BROKER = ("127.0.0.1", 1883)


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    cases: dict[str, str]
    """Run id by machine."""
    outcomes: dict[str, str | None]
    work_orders: int
    escalations: tuple[str, ...]


def run_maintenance_demo(
    settings: Settings, out: Console, err: Console, broker: tuple[str, int] | None = None
) -> MaintenanceResult:
    """Tell the story on ``out``; CNC-08 joins when ``broker`` (default: one on loopback
    port 1883) answers."""
    # asyncua reports every unsecured loopback session at WARNING; the demo is on loopback.
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    broker = broker or (DEFAULT_BROKER if reachable(*DEFAULT_BROKER) else None)
    if broker is None:
        err.print("demo: no MQTT broker on 127.0.0.1:1883; CNC-08 (Sparkplug) sits out",
                  markup=False)  # fmt: skip
    clock = ManualClock(START)
    app = build(settings, clock=clock)
    cmms = Cmms()
    escalations: list[str] = []
    try:
        _prepare(app, cmms, escalations)
        with shop_floor(app, clock, broker) as floor:
            story = Story(app, clock, out, escalations)
            machines = ["CNC-07"] + (["CNC-08"] if broker else [])
            story.say(f"running in Execute: {', '.join(machines)}")
            clock.advance(timedelta(minutes=47))
            floor.set_state("CNC-07", HELD, 2101)
            story.say("CNC-07 (OPC UA) goes to Held, stop reason 2101 (spindle, UNP-MECH)")
            story.opened("CNC-07", cmms)
            if broker:
                floor.set_state("CNC-08", HELD, 2205)
                story.say("CNC-08 (Sparkplug B) goes to Held, stop reason 2205 (drive, UNP-ELEC)")
                clock.advance(timedelta(minutes=3))
                floor.heartbeat(1520)
                story.opened("CNC-08", cmms, "the stop outlasted the two-minute debounce: ")
            for minutes in (10, 20):
                clock.advance(timedelta(minutes=minutes))
                story.escalated()
            for machine in machines:
                floor.set_state(machine, EXECUTE, 0)
            clock.advance(timedelta(minutes=1))
            if broker:
                floor.heartbeat(1521)  # Execute held past the merge gap: the restore is news
            for machine in machines:
                story.restored(machine)
            clock.advance(timedelta(minutes=25))
            for machine in machines:
                story.repaired(machine, cmms.order_for(machine))
        for machine, run_id in story.cases.items():
            err.print(f"demo: {machine}'s case: andon show {run_id}", markup=False)
        return MaintenanceResult(
            dict(story.cases), story.outcomes, len(cmms.orders), tuple(escalations)
        )
    finally:
        cmms.close()
        app.close()


class Story:
    """Drives the workers on the fast clock and says what happened, machine by machine."""

    def __init__(self, app: App, clock: ManualClock, out: Console, escalations: list[str]) -> None:
        self.app, self.clock, self.out = app, clock, out
        self.admin: Actor = app.actor()
        self.escalations = escalations
        self.told = 0
        self.cases: dict[str, str] = {}
        self.outcomes: dict[str, str | None] = {}

    def say(self, text: str) -> None:
        minutes = int((self.clock.now() - START).total_seconds() // 60)
        self.out.print(f"T+{minutes:>3} min  {text}", markup=False, highlight=False)

    def opened(self, machine: str, cmms: Cmms, why: str = "") -> None:
        run_id = wait_for(lambda: _case_of(self.app.service, self.admin, machine), "a case")
        self.cases[machine] = run_id
        _drain(self.app)
        order = cmms.order_for(machine)["work_order_id"]
        self.say(f"{why}case {run_id} opened for {machine}; work order {order} in the CMMS")

    def escalated(self) -> None:
        _drain(self.app)
        for rung in self.escalations[self.told :]:
            self.say(f"still down: {rung}")
        self.told = len(self.escalations)

    def restored(self, machine: str) -> None:
        run_id = self.cases[machine]
        wait_for(lambda: _waiting(self.app.service, self.admin, run_id), f"{machine} restored")
        self.say(f"{machine} back in Execute; its case waits for the work order")

    def repaired(self, machine: str, order: JsonObject) -> None:
        _complete(self.app, machine, order)
        _drain(self.app)
        run = self.app.service.run(self.admin, self.cases[machine])
        self.outcomes[machine] = run.outcome
        self.say(
            f"{order['work_order_id']} completed: {machine}'s case {run.status}, {run.outcome}"
        )


def _prepare(app: App, cmms: Cmms, escalations: list[str]) -> None:
    admin = app.actor()
    folder = reference_dir()
    register_reference_contracts(app.service, admin, folder)
    with contextlib.suppress(ConflictError):  # the other demo's database has the plant
        app.directory.create_site(admin, PLANT, "Stuttgart")

    # The CMMS stub listens on loopback, which egress allows only when told to.
    cmms_client = egress.client(egress.networks(["127.0.0.1/32"]))

    def create_work_order(call: ActionCall) -> JsonValue:
        # The HTTP connector, pointed at the CMMS (in a plant: its connection's base URL).
        request: JsonObject = {"url": f"{cmms.url}/work-orders", "json": call.input}
        answer = http_request(replace(call, input=request), client=cmms_client)
        assert isinstance(answer, dict)
        return answer.get("body")

    def escalate(call: ActionCall) -> JsonValue:
        escalations.append(f"{call.input.get('asset')} escalated to {call.input.get('to')}")
        return {"notified": call.input.get("to")}

    app.actions.register("cmms.create_work_order", create_work_order)
    app.actions.register("notify.escalate", escalate)
    # After the actions: publishing refuses names nobody registers (ADR 0030).
    path = folder / f"{TEMPLATE}.yaml"
    app.service.publish_template(admin, path.read_text("utf-8"), str(path))


def _case_of(service: Andon, admin: Actor, machine: str) -> str | None:
    for run in service.runs(admin):
        given = run.state.get("input")
        equipment = given.get("equipment") if isinstance(given, dict) else None
        if (
            run.template_id == TEMPLATE
            and run.status == "running"
            and isinstance(equipment, dict)
            and equipment.get("id") == machine
        ):
            return run.run_id
    return None


def _waiting(service: Andon, admin: Actor, run_id: str) -> bool:
    active = service.run(admin, run_id).state.get("active")
    return isinstance(active, list) and "await_work_order" in active


def _complete(app: App, machine: str, order: JsonObject) -> None:
    data: JsonObject = {
        "work_order_id": order["work_order_id"], "asset_id": machine, "type": "corrective",
        "priority": order.get("priority", "P2"), "downtime_min": 55,
        "failure": {"scheme": "ISO14224", "mode": "VIB", "mechanism": "wear",
                    "cause": "lubrication"},
    }  # fmt: skip
    app.service.send_event(
        app.actor(), "maintenance.work_order_completed", machine, data,
        source="/connectors/cmms", event_id=str(order["work_order_id"]),
    )  # fmt: skip


def _drain(app: App) -> None:
    worker = app.worker(WorkerSettings(batch=32, lease_s=30, poll_s=0.01, threads=1))
    while worker.run_once():
        pass
