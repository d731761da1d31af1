"""The PackML simulator as a real OPC UA server on a free loopback port, once per session.

Building the server's address space takes ~4-8 s, so one server serves every test; each test
drives its own machine. The server runs on its own event loop in a daemon thread, and the
handle's methods block until the simulator has done the work. ``stop()``/``start()`` keep
the port and every value, so a test can take the machine away and bring it back.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from andon.tools.simulators.opcua_cell import Acknowledgement, SimulatedCell

T = TypeVar("T")

MACHINES = ("CNC-STATE", "CNC-ALARM", "CNC-NS", "CNC-RESTART", "CNC-BAD", "CNC-ACK", "CNC-IDS")
DECOY_NAMESPACE = "urn:andon:test:decoy"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OpcUaMachine:
    """A blocking handle on the simulator running in a background thread."""

    def __init__(self, cell: SimulatedCell, loop: asyncio.AbstractEventLoop) -> None:
        self.cell = cell
        self._loop = loop

    @property
    def endpoint(self) -> str:
        return self.cell.endpoint

    @property
    def namespace(self) -> str:
        return self.cell.namespace

    @property
    def acknowledgements(self) -> list[Acknowledgement]:
        return list(self.cell.acknowledgements)

    def node(self, machine: str) -> str:
        """The machine as configured in Andon: by namespace URI and browse name."""
        return f"nsu={self.namespace};path={machine}"

    def _run(self, work: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def set_state(self, machine: str, code: int, stop_reason: int | None = None) -> None:
        self._run(self.cell.set_state(machine, code, stop_reason))

    def state(self, machine: str) -> int:
        return self._run(self.cell.state(machine))

    def alarm(self, machine: str, name: str, severity: int, message: str = "") -> None:
        self._run(self.cell.alarm(machine, name, severity, message))

    def deny_acknowledge(self, machine: str, deny: bool = True) -> None:
        self._loop.call_soon_threadsafe(self.cell.deny_acknowledge, machine, deny)

    def stop(self) -> None:
        self._run(self.cell.stop())

    def start(self) -> None:
        self._run(self.cell.start())


@pytest.fixture(scope="session")
def opcua_machine() -> Iterator[OpcUaMachine]:
    """The simulator with an extra namespace registered before its own, so clients that
    assume index 2 instead of resolving the URI fail."""
    from andon.tools.simulators.opcua_cell import SimulatedCell  # asyncua import: ~1.5 s

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="opcua-sim", daemon=True)
    thread.start()
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/andon/"
    cell = SimulatedCell(endpoint, MACHINES, extra_namespaces=(DECOY_NAMESPACE,))
    handle = OpcUaMachine(cell, loop)
    try:
        handle._run(cell.init(), timeout=120)
        handle.start()
        yield handle
    finally:
        try:
            handle.stop()
            handle._run(_cancel_the_rest())  # client sessions the server leaves running
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


async def _cancel_the_rest() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
