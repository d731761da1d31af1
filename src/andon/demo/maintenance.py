"""``andon demo --scenario maintenance``: a machine stops, Andon escalates, the line recovers.

A simulated machine (an OPC UA server of our own, PackML tags) goes to Held with a stop
reason. The OPC UA intake takes the state change in; the maintenance-escalation template's
trigger opens a case; a corrective work order is created in a simulated CMMS through the
HTTP connector; the escalation ladder runs on a fast clock (T+10 supervisor, T+30 production
and planning) while the machine stays down; the machine returns to Execute, the CMMS
reports the work order completed, and the case closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rich.console import Console

from andon.actions.http import http_request
from andon.actions.registry import ActionCall
from andon.bootstrap import App, build
from andon.config import Settings
from andon.core.json import JsonObject, JsonValue
from andon.demo import reference_dir, register_reference_contracts
from andon.errors import ConflictError
from andon.governance.identity import Actor
from andon.runtime.clock import ManualClock
from andon.runtime.intake_sink import ServiceSink
from andon.runtime.service import Andon
from andon.runtime.worker import WorkerSettings

TEMPLATE = "maintenance-escalation"
MACHINE = "CNC-07"
PLANT = "DE-STR"
START = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
HELD, EXECUTE, SPINDLE_JAM = 11, 6, 2101


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    run_id: str
    outcome: str | None
    work_orders: int
    escalations: tuple[str, ...]


class Cmms:
    """A tiny CMMS on loopback: ``POST /work-orders`` opens one and answers its number."""

    def __init__(self) -> None:
        self.orders: list[JsonObject] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                order = {**body, "work_order_id": f"WO-DE-{4512 + len(outer.orders)}"}
                outer.orders.append(order)
                reply = json.dumps(order).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_maintenance_demo(settings: Settings, out: Console, err: Console) -> MaintenanceResult:
    # asyncua reports every unsecured loopback session at WARNING; the demo is on loopback.
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    clock = ManualClock(START)
    app = build(settings, clock=clock)
    cmms = Cmms()
    escalations: list[str] = []
    try:
        admin = app.actor()
        _prepare(app, cmms, escalations)
        with _machine() as (cell, loop), _intake(app, cell, loop):
            say = _narrator(out, clock)
            say(f"{MACHINE} runs in Execute; the OPC UA intake watches its PackML state")
            clock.advance(timedelta(minutes=47))
            _set_state(cell, loop, HELD, SPINDLE_JAM)
            say(f"{MACHINE} goes to Held, stop reason {SPINDLE_JAM} (spindle jam)")
            run_id = _wait_for(lambda: _open_case(app.service, admin), "a case to open")
            _drain(app)
            say(f"case {run_id} opened; work order {cmms.orders[-1]['work_order_id']} in the CMMS")
            for minutes in (10, 20):
                clock.advance(timedelta(minutes=minutes))
                _drain(app)
                say(f"still down: escalated to {escalations[-1]}")
            _set_state(cell, loop, EXECUTE)
            _wait_for(lambda: _waiting_for_work_order(app.service, admin, run_id), "the restore")
            say(f"{MACHINE} back in Execute; waiting for the work order to be completed")
            clock.advance(timedelta(minutes=25))
            _complete(app, cmms.orders[-1])
            _drain(app)
            run = app.service.run(admin, run_id)
            say(f"work order completed; case {run.status}: {run.outcome}")
        err.print(f"demo: the case's story: andon show {run_id}", markup=False)
        return MaintenanceResult(run_id, run.outcome, len(cmms.orders), tuple(escalations))
    finally:
        cmms.close()
        app.close()


def _prepare(app: App, cmms: Cmms, escalations: list[str]) -> None:
    admin = app.actor()
    folder = reference_dir()
    register_reference_contracts(app.service, admin, folder)
    path = folder / f"{TEMPLATE}.yaml"
    app.service.publish_template(admin, path.read_text("utf-8"), str(path))
    with contextlib.suppress(ConflictError):  # the other demo's database has the plant
        app.directory.create_site(admin, PLANT, "Stuttgart")

    def create_work_order(call: ActionCall) -> JsonValue:
        # The HTTP connector, pointed at the CMMS (in a plant: its connection's base URL).
        request: JsonObject = {"url": f"{cmms.url}/work-orders", "json": call.input}
        answer = http_request(replace(call, input=request))
        assert isinstance(answer, dict)
        return answer.get("body")

    def escalate(call: ActionCall) -> JsonValue:
        escalations.append(str(call.input.get("to")))
        return {"notified": call.input.get("to")}

    app.actions.register("cmms.create_work_order", create_work_order)
    app.actions.register("notify.escalate", escalate)


@contextmanager
def _machine() -> Iterator[tuple[Any, asyncio.AbstractEventLoop]]:
    """The simulated machine's OPC UA server on its own event loop (init takes seconds)."""
    from andon.intake.opcua_sim import SimulatedCell

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="opcua-machine", daemon=True)
    thread.start()
    cell = SimulatedCell(f"opc.tcp://127.0.0.1:{_free_port()}/andon/", (MACHINE,))
    try:
        _call(loop, cell.init(), 120)
        _call(loop, cell.start())
        _call(loop, cell.set_state(MACHINE, EXECUTE))
        yield cell, loop
    finally:
        _call(loop, cell.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def _intake(app: App, cell: Any, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The OPC UA intake on the machine's loop, feeding the inbox as the service would."""
    from andon.intake.opcua import MachineNodes, OpcUaSettings, run_opcua_intake

    nodes = MachineNodes(MACHINE, f"nsu={cell.namespace};path={MACHINE}",
                         scope=f"ACME.{PLANT}.MACH.L01.{MACHINE}", level="WorkUnit")  # fmt: skip
    settings = OpcUaSettings(
        endpoint=cell.endpoint, machines=(nodes,), plant=PLANT, stop_reasons={2101: "UNP-MECH"}
    )
    sink = ServiceSink(app.service, app.actor(), f"opcua:{cell.endpoint}")
    stop = asyncio.Event()
    task = asyncio.run_coroutine_threadsafe(
        run_opcua_intake(settings, sink, stop, sink.reject), loop
    )
    try:
        _wait_for(lambda: sink.taken > 0, "the intake to read the machine")
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        task.result(15)


def _narrator(out: Console, clock: ManualClock) -> Callable[[str], None]:
    def say(text: str) -> None:
        minutes = int((clock.now() - START).total_seconds() // 60)
        out.print(f"T+{minutes:>3} min  {text}", markup=False, highlight=False)

    return say


def _set_state(
    cell: Any, loop: asyncio.AbstractEventLoop, code: int, reason: int | None = None
) -> None:
    _call(loop, cell.set_state(MACHINE, code, reason))


def _open_case(service: Andon, admin: Actor) -> str | None:
    found = [r for r in service.runs(admin) if r.template_id == TEMPLATE]
    running = [r for r in found if r.status != "completed"]
    return running[-1].run_id if running else None


def _waiting_for_work_order(service: Andon, admin: Actor, run_id: str) -> bool:
    active = service.run(admin, run_id).state.get("active")
    return isinstance(active, list) and "await_work_order" in active


def _complete(app: App, order: JsonObject) -> None:
    data: JsonObject = {
        "work_order_id": order["work_order_id"], "asset_id": MACHINE, "priority": "P1",
        "type": "corrective", "downtime_min": 55,
        "failure": {"scheme": "ISO14224", "mode": "VIB", "mechanism": "wear",
                    "cause": "lubrication"},
    }  # fmt: skip
    app.service.send_event(
        app.actor(), "maintenance.work_order_completed", MACHINE, data,
        source="/connectors/cmms", event_id=str(order["work_order_id"]),
    )  # fmt: skip


def _drain(app: App) -> None:
    worker = app.worker(WorkerSettings(batch=32, lease_s=30, poll_s=0.01, threads=1))
    while worker.run_once():
        pass


def _wait_for(found: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)
    return value


def _call(loop: asyncio.AbstractEventLoop, work: Any, timeout: float = 15) -> Any:
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
