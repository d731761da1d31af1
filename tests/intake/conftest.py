"""Fixtures for the intake adapters: real brokers and servers on loopback, started by the
tests themselves (each helper module below owns one service)."""

from mosquitto_server import mosquitto  # noqa: F401
from nats_server import nats_server, nats_url  # noqa: F401
from opcua_server import opcua_machine  # noqa: F401
