"""``opcua.acknowledge_stop``: acknowledge a stop on the machine itself, so the operator panel
shows that Andon has taken the case, by calling the machine's acknowledge method over OPC UA."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core.json import JsonValue
from andon.errors import ActionError, InputError

ENDPOINT_ENV = "ANDON_OPCUA_ENDPOINT"
DEFAULT_METHOD = "AcknowledgeStop"
DEFAULT_TIMEOUT_S = 10.0

# Answers that no retry will change: the node, the method or the arguments are wrong, or the
# machine refuses us. Everything else (timeouts, a server shutting down) is worth retrying.
PERMANENT = frozenset({
    "BadUserAccessDenied", "BadNodeIdUnknown", "BadNodeIdInvalid", "BadNoMatch",
    "BadBrowseNameInvalid", "BadMethodInvalid", "BadArgumentsMissing", "BadTooManyArguments",
    "BadInvalidArgument", "BadTypeMismatch", "BadNotExecutable", "BadNotImplemented",
    "BadIdentityTokenRejected", "BadIdentityTokenInvalid", "BadSecurityPolicyRejected",
})  # fmt: skip


def acknowledge_stop(call: ActionCall, default_endpoint: str = "") -> JsonValue:
    """Input: ``machine`` (``nsu=<uri>;path=<machine>`` or ``nsu=<uri>;s=<id>``), optional
    ``endpoint`` (else ``ANDON_OPCUA_ENDPOINT``), ``method`` (a browse name in the machine's
    namespace, default ``AcknowledgeStop``), ``by`` and ``comment``, or raw ``arguments``.

    Connection failures and timeouts are retried by the step's policy; a missing node or
    method, bad arguments and BadUserAccessDenied are permanent.
    """
    endpoint = call.input.get("endpoint") or default_endpoint
    if not isinstance(endpoint, str) or not endpoint.startswith("opc.tcp://"):
        raise ActionError(
            f"opcua.acknowledge_stop needs an opc.tcp:// 'endpoint' (input or {ENDPOINT_ENV}),"
            f" got {endpoint!r}",
            permanent=True,
        )
    machine = call.input.get("machine")
    method = call.input.get("method", DEFAULT_METHOD)
    if not isinstance(machine, str) or not isinstance(method, str) or not method:
        raise ActionError("opcua.acknowledge_stop needs a 'machine' node", permanent=True)
    arguments = call.input.get("arguments")
    if arguments is None:
        arguments = [str(call.input.get("by", "andon")), str(call.input.get("comment", ""))]
    if not isinstance(arguments, list):
        raise ActionError("'arguments' must be a list", permanent=True)
    timeout = call.timeout_s or DEFAULT_TIMEOUT_S
    try:
        asyncio.run(asyncio.wait_for(_call(endpoint, machine, method, arguments), timeout))
    except ActionError:
        raise
    except InputError as exc:
        raise ActionError(f"opcua.acknowledge_stop: {exc}", permanent=True) from exc
    except TimeoutError as exc:
        raise ActionError(f"{endpoint}: no answer within {timeout}s") from exc
    except (OSError, ConnectionError) as exc:
        raise ActionError(f"{endpoint} unreachable: {exc!r}") from exc
    return {"acknowledged": True, "machine": machine, "method": method}


async def _call(endpoint: str, machine: str, method: str, arguments: list[JsonValue]) -> None:
    # Imported here: asyncua takes ~1.5 s to import and most workers never call this action.
    from asyncua import ua
    from asyncua.client.client import Client
    from asyncua.ua.uaerrors import UaStatusCodeError

    from andon.intake.opcua_nodes import NodeRef

    ref = NodeRef.parse(machine)
    async with Client(endpoint) as client:
        try:
            namespaces = await client.get_namespace_array()
            node = await ref.resolve(client, client.nodes.objects, namespaces)
            name = ua.QualifiedName(method, node.nodeid.NamespaceIndex)
            await node.call_method(name, *arguments)
        except UaStatusCodeError as exc:
            bad = type(exc).__name__
            raise ActionError(
                f"{machine} {method} on {endpoint}: {bad}", permanent=bad in PERMANENT
            ) from exc


def register(registry: ActionRegistry, environ: Mapping[str, str] = os.environ) -> None:
    """The default endpoint is read once, here, like the rest of the settings."""
    default = environ.get(ENDPOINT_ENV, "")

    def action(call: ActionCall) -> JsonValue:
        return acknowledge_stop(call, default)

    registry.register("opcua.acknowledge_stop", action)
