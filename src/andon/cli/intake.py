"""``andon intake mqtt|nats|opcua``: run one intake adapter against the configured database.

Each runs until SIGTERM/SIGINT, acting as a service identity (``--as``, which needs the
event.send permission, e.g. the ``integration`` role). Events go to the inbox through the
service; what cannot be taken in becomes a dead letter (``andon dead-letters list``).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, err, fail, session
from andon.intake.packml import Rules
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN
from andon.runtime.intake_sink import ServiceSink

intake_app = typer.Typer(help="Take events in from brokers and machines.", no_args_is_help=True)

Runner = Callable[[ServiceSink, asyncio.Event], Awaitable[None]]


def register(app: typer.Typer) -> None:
    app.add_typer(intake_app, name="intake")


@intake_app.command("nats")
def nats(
    url: Annotated[str, typer.Option("--url", envvar="ANDON_NATS_URL")] = "nats://127.0.0.1:4222",
    stream: Annotated[str, typer.Option("--stream")] = "ANDON_IN",
    subject: Annotated[list[str] | None, typer.Option("--subject")] = None,
    durable: Annotated[str, typer.Option("--durable")] = "andon-intake",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """CloudEvents (structured JSON) from a JetStream stream, acknowledged after commit."""
    from andon.intake.nats import NatsSettings, run_nats_intake

    settings = NatsSettings(
        url=url, stream=stream, subjects=tuple(subject or ["andon.in.>"]), durable=durable
    )

    async def run(sink: ServiceSink, stop: asyncio.Event) -> None:
        await run_nats_intake(settings, sink, stop, sink.reject)

    _run(f"nats:{stream}", run, user, tenant)


@intake_app.command("mqtt")
def mqtt(
    host: Annotated[str, typer.Option("--host", envvar="ANDON_MQTT_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="ANDON_MQTT_PORT")] = 1883,
    client_id: Annotated[str, typer.Option("--client-id")] = "andon-intake",
    json_topic: Annotated[list[str] | None, typer.Option("--json-topic")] = None,
    sparkplug: Annotated[bool, typer.Option("--sparkplug/--no-sparkplug")] = True,
    min_stop: Annotated[float, typer.Option("--min-stop", help="Seconds a stop must last.")] = 120,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Sparkplug B (machine states, debounced) and CloudEvents JSON topics, QoS 1 acked after
    commit; the session persists across restarts (a fixed client id)."""
    from andon.intake.mqtt import MqttSettings, run_mqtt_intake

    settings = MqttSettings(
        host=host, port=port, client_id=client_id, sparkplug=sparkplug,
        json_topics=tuple(json_topic or ["andon/events/#"]),
        rules=Rules(min_stop=timedelta(seconds=min_stop)),
    )  # fmt: skip

    async def run(sink: ServiceSink, stop: asyncio.Event) -> None:
        await run_mqtt_intake(settings, sink, stop, sink.reject)

    _run(f"mqtt:{host}:{port}", run, user, tenant)


@intake_app.command("opcua")
def opcua(
    endpoint: Annotated[str, typer.Option("--endpoint")] = "opc.tcp://127.0.0.1:4840/",
    machine: Annotated[
        list[str] | None,
        typer.Option("--machine", help="ID=NODE, e.g. CNC-07=nsu=urn:andon:sim:packml;path=CNC-07"),
    ] = None,
    plant: Annotated[str, typer.Option("--plant")] = "",
    event_type: Annotated[str, typer.Option("--event-type", help="Alarm event type node")] = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """PackML state variables and alarm events of the machines on one OPC UA server."""
    from andon.intake.opcua import run_opcua_intake
    from andon.intake.opcua_nodes import MachineNodes, OpcUaSettings

    machines = []
    for given in machine or []:
        equipment, _, node = given.partition("=")
        if not equipment or not node:
            fail(f"--machine '{given}': give ID=NODE")
        machines.append(MachineNodes(equipment, node))
    if not machines:
        fail("give at least one --machine ID=NODE")
    settings = OpcUaSettings(
        endpoint=endpoint, machines=tuple(machines), plant=plant, event_type=event_type
    )

    async def run(sink: ServiceSink, stop: asyncio.Event) -> None:
        await run_opcua_intake(settings, sink, stop, sink.reject)

    _run(f"opcua:{endpoint}", run, user, tenant)


def _run(channel: str, runner: Runner, user: str, tenant: str) -> None:
    with session() as built:
        sink = ServiceSink(built.service, built.actor(user, tenant), channel)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            err.print(f"intake {channel} ready", markup=False)
            await runner(sink, stop)

        asyncio.run(main())
        err.print(
            f"intake {channel} stopped: {sink.taken} taken, {sink.duplicates} duplicate(s), "
            f"{sink.dead_letters} dead letter(s)",
            markup=False,
        )
