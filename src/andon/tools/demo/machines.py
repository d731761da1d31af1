"""The maintenance demo's shop floor: simulated machines, the intakes watching them, a CMMS.

CNC-07 is an OPC UA server of our own (PackML tags) watched by the OPC UA intake; CNC-08 is
a Sparkplug B edge node publishing to an MQTT broker, watched by the MQTT intake (with its
two-minute debounce). Both run on one event loop in a background thread; the edge node
stamps its payloads with the demo's fast clock, so the debounce sees plant time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from andon.bootstrap import App
from andon.core.json import JsonObject
from andon.runtime.clock import ManualClock
from andon.runtime.intake_sink import ServiceSink

PLANT = "DE-STR"
STOP_REASONS = {2101: "UNP-MECH", 2205: "UNP-ELEC"}
EXECUTE = 6


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

    def order_for(self, asset: str) -> JsonObject:
        return next(o for o in reversed(self.orders) if o.get("asset") == asset)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Floor:
    """The machines and their intakes; blocking methods for the story to call."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.opcua: Any = None
        self.edge: Any = None
        self._stops: list[tuple[asyncio.Event, Any]] = []

    def run(self, work: Coroutine[Any, Any, Any], timeout: float = 15) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def set_state(self, machine: str, code: int, reason: int | None = None) -> None:
        if machine == "CNC-07":
            self.run(self.opcua.set_state(machine, code, reason))
        else:
            self.run(self.edge.set_state(code, stop_reason=reason))

    def heartbeat(self, processed: int) -> None:
        """The edge node's next counter update, stamped with the plant clock."""
        self.run(self.edge.produce(processed))

    def watch(self, start: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        stop = asyncio.Event()
        self._stops.append((stop, asyncio.run_coroutine_threadsafe(start(stop), self.loop)))

    def close(self) -> None:
        for stop, task in self._stops:
            self.loop.call_soon_threadsafe(stop.set)
            task.result(15)


@contextmanager
def shop_floor(app: App, clock: ManualClock, broker: tuple[str, int] | None) -> Iterator[Floor]:
    """Start the machines and the intakes; CNC-08 only when an MQTT broker is at hand."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="shop-floor", daemon=True)
    thread.start()
    floor = Floor(loop)
    try:
        _start_opcua(app, floor)
        if broker is not None:
            _start_sparkplug(app, floor, clock, broker)
        yield floor
    finally:
        floor.close()
        if floor.edge is not None:
            floor.run(floor.edge.stop())
        if floor.opcua is not None:
            floor.run(floor.opcua.stop())
        floor.run(_cancel_the_rest())  # sessions the OPC UA server leaves running
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()  # its self-pipe sockets; a dropped loop leaks them


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def _start_opcua(app: App, floor: Floor) -> None:
    from andon.intake.opcua import run_opcua_intake
    from andon.intake.opcua_nodes import MachineNodes, OpcUaSettings
    from andon.tools.simulators.opcua_cell import SimulatedCell

    cell = SimulatedCell(f"opc.tcp://127.0.0.1:{free_port()}/andon/", ("CNC-07",))
    floor.opcua = cell
    floor.run(cell.init(), 120)  # the standard address space: a few seconds
    floor.run(cell.start())
    floor.run(cell.set_state("CNC-07", EXECUTE))
    nodes = MachineNodes("CNC-07", f"nsu={cell.namespace};path=CNC-07",
                         scope=f"ACME.{PLANT}.MACH.L01.CNC-07", level="WorkUnit")  # fmt: skip
    settings = OpcUaSettings(
        endpoint=cell.endpoint, machines=(nodes,), plant=PLANT, stop_reasons=STOP_REASONS
    )
    sink = ServiceSink(app.service, app.actor(), f"opcua:{cell.endpoint}")
    floor.watch(lambda stop: run_opcua_intake(settings, sink, stop, sink.reject))
    wait_for(lambda: sink.taken > 0, "the OPC UA intake to read CNC-07")


def _start_sparkplug(app: App, floor: Floor, clock: ManualClock, broker: tuple[str, int]) -> None:
    from andon.intake.mqtt import MqttSettings, run_mqtt_intake
    from andon.intake.packml import Rules
    from andon.tools.simulators.sparkplug_edge import EdgeNodeSim

    host, port = broker
    settings = MqttSettings(
        host=host, port=port, client_id=f"andon-demo-{uuid.uuid4().hex[:8]}",
        json_topics=(), session_expiry=timedelta(0), rules=Rules(stop_reasons=STOP_REASONS),
        scope_template="ACME.{group}.MACH.{edge_node}.{device}",
    )  # fmt: skip
    sink = ServiceSink(app.service, app.actor(), f"mqtt:{host}:{port}")
    floor.watch(lambda stop: run_mqtt_intake(settings, sink, stop, sink.reject))
    time.sleep(0.5)  # subscribed before the edge node's births
    edge = EdgeNodeSim(
        host, port, group=PLANT, edge_node="L02-EDGE", device="CNC-08", qos=1,
        clock=lambda: int(clock.now().timestamp() * 1000),
    )  # fmt: skip
    floor.edge = edge
    floor.run(edge.start())
    floor.run(edge.set_state(EXECUTE))


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def wait_for(found: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)
    return value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
