"""A simulated Sparkplug B edge node (a line gateway) with one PackML machine, for tests and
the demo: births with aliases, alias-only DDATA, NDEATH as the MQTT will, rebirth on NCMD.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from datetime import timedelta

import aiomqtt

from andon.errors import InputError
from andon.intake import packml, sparkplug
from andon.intake.sparkplug import DataType, MessageType, Metric, Payload, Topic

_ALIASES = {
    packml.STATE: 1,
    packml.MODE: 2,
    packml.STOP_REASON: 3,
    packml.PROCESSED: 4,
    packml.DEFECTIVE: 5,
}


def _wall_millis() -> int:
    return time.time_ns() // 1_000_000


class EdgeNodeSim:
    """One edge node, one device. ``bd_seq`` grows with every new MQTT session."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        group: str = "DE-STR",
        edge_node: str = "L01-EDGE",
        device: str = "CNC-07",
        qos: int = 0,
        bd_seq: int = 0,
        clock: Callable[[], int] = _wall_millis,
    ) -> None:
        self.host, self.port, self.qos = host, port, qos
        self.group, self.edge_node, self.device = group, edge_node, device
        self.bd_seq = bd_seq
        self.seq = 0
        self.rebirths = 0
        self.code = packml.EXECUTE
        self.mode = 1
        self.stop_reason = 0
        self.processed = 0
        self.defective = 0
        self._clock = clock
        self._since = clock()
        self._client: aiomqtt.Client | None = None
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> EdgeNodeSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def topic(self, kind: MessageType) -> str:
        device = self.device if kind.startswith("D") else None
        return str(Topic(self.group, kind, self.edge_node, device))

    async def start(self) -> None:
        """Connect with NDEATH as the will, listen for commands, publish NBIRTH and DBIRTH."""
        death = sparkplug.encode(self._death())
        will = aiomqtt.Will(self.topic(MessageType.NDEATH), death, qos=1, retain=False)
        client = aiomqtt.Client(
            self.host, self.port, identifier=f"sim-{self.group}-{self.edge_node}", will=will
        )
        await client.__aenter__()
        self._client = client
        await client.subscribe(self.topic(MessageType.NCMD), qos=0)
        self._listener = asyncio.create_task(self._listen(client))
        await self.births()

    async def stop(self) -> None:
        """Leave on purpose: NDEATH first, as the spec asks, then disconnect."""
        client = self._client
        if client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(self.topic(MessageType.NDEATH), sparkplug.encode(self._death()), 1)
        await self._close(client)

    async def crash(self) -> None:
        """Cut the TCP connection without DISCONNECT, so the broker publishes the will."""
        client = self._client
        if client is None:
            return
        sock = client._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        await self._close(client)

    async def reconnect(self) -> None:
        """A new MQTT session: the next bdSeq, then births."""
        self.bd_seq = (self.bd_seq + 1) % 256
        await self.start()

    async def births(self) -> None:
        """NBIRTH (seq 0) and DBIRTH with every metric, its name and its alias."""
        async with self._lock:
            now = self._clock()
            self.seq = 0
            node = (
                Metric(sparkplug.BDSEQ, self.bd_seq, DataType.UINT64, timestamp=now),
                Metric(sparkplug.REBIRTH, False, DataType.BOOLEAN, timestamp=now),
            )
            await self._publish(MessageType.NBIRTH, Payload(now, node, self._next_seq()))
            device = tuple(
                Metric(name, value, DataType.INT32, _ALIASES[name], stamp)
                for name, value, stamp in self._values(now)
            )
            await self._publish(MessageType.DBIRTH, Payload(now, device, self._next_seq()))

    async def set_state(self, code: int, *, stop_reason: int | None = None) -> None:
        """Move the machine to PackML state ``code`` (with a PLC stop reason) and publish it."""
        self.code, self._since = code, self._clock()
        names = [packml.STATE]
        if stop_reason is not None:
            self.stop_reason = stop_reason
            names.append(packml.STOP_REASON)
        await self._data(names)

    async def produce(self, processed: int, defective: int = 0) -> None:
        self.processed += processed
        self.defective += defective
        await self._data([packml.PROCESSED, packml.DEFECTIVE])

    def skip_seq(self, count: int = 1) -> None:
        """Pretend ``count`` messages were lost on the way."""
        self.seq = (self.seq + count) % 256

    async def _data(self, names: list[str]) -> None:
        async with self._lock:
            now = self._clock()
            metrics = tuple(
                Metric(value=value, datatype=DataType.INT32, alias=_ALIASES[name], timestamp=at)
                for name, value, at in self._values(now)
                if name in names
            )
            await self._publish(MessageType.DDATA, Payload(now, metrics, self._next_seq()))

    def _values(self, now: int) -> list[tuple[str, int, int]]:
        return [
            (packml.STATE, self.code, self._since),
            (packml.MODE, self.mode, now),
            (packml.STOP_REASON, self.stop_reason, now),
            (packml.PROCESSED, self.processed, now),
            (packml.DEFECTIVE, self.defective, now),
        ]

    def _death(self) -> Payload:
        bd_seq = Metric(sparkplug.BDSEQ, self.bd_seq, DataType.UINT64, timestamp=self._clock())
        return Payload(self._clock(), (bd_seq,))

    def _next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    async def _publish(self, kind: MessageType, payload: Payload) -> None:
        if self._client is None:
            raise RuntimeError("the simulated edge node is not connected")
        await self._client.publish(self.topic(kind), sparkplug.encode(payload), qos=self.qos)

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Honour ``Node Control/Rebirth``; other commands are ignored."""
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in client.messages:
                try:
                    command = sparkplug.decode(message.payload).metric(sparkplug.REBIRTH)
                except InputError:
                    continue
                if command is not None and command.value is True:
                    self.rebirths += 1
                    await self.births()

    async def _close(self, client: aiomqtt.Client) -> None:
        self._client = None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(None, None, None)


async def run_scenario(
    sim: EdgeNodeSim, *, run: timedelta, hold: timedelta, stop_reason: int = 2101
) -> None:
    """Execute for ``run``, Held (with ``stop_reason``) for ``hold``, then Execute again."""
    await sim.set_state(packml.EXECUTE)
    await asyncio.sleep(run.total_seconds())
    await sim.set_state(11, stop_reason=stop_reason)
    await asyncio.sleep(hold.total_seconds())
    await sim.set_state(packml.EXECUTE, stop_reason=0)
