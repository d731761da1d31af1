"""The one way out: every outbound call (``http.request``, webhooks, NATS and SMTP targets)
goes through this module, so one policy decides where Andon may connect to.

A host is resolved once; every address it resolves to must be public (or allow-listed),
and the connection is made to the address that was checked, so a resolver that answers a
public address first and an internal one later (DNS rebinding) gains nothing. TLS still
verifies the certificate for the hostname of the URL and sends it as SNI; the Host header
is the URL's. Redirects are never followed, answers are read up to a size cap, and a call
has one deadline for everything (connect, headers, body), not only per-read timeouts.

Loopback or private targets (tests, benchmarks, an ERP on the plant network) are refused
unless an administrator allow-lists their network: ``ANDON_EGRESS_ALLOW`` for the process
(``ANDON_WEBHOOK_ALLOW`` is read too, its older name) plus the calling tenant's own list
(``andon.runtime.egress_allow``). This module needs only httpx and the errors, so it sits
below the runtime, beside the actions and connectors that call out through it.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from andon.errors import GovernanceError, InputError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
MAX_BYTES = 10 * 1024 * 1024
ENV_ALLOW = ("ANDON_EGRESS_ALLOW", "ANDON_WEBHOOK_ALLOW")

# Special-purpose ranges that ipaddress's is_global lets through (or did in older Pythons).
_EXTRA_DENIED = tuple(
    ipaddress.ip_network(n)
    for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "fec0::/10", "100::/64")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPAT = ipaddress.ip_network("::/96")  # IPv4-compatible (deprecated) addresses
_deadline: ContextVar[float | None] = ContextVar("egress_deadline", default=None)


class EgressDenied(GovernanceError):
    """A target resolves to an address this process may not connect to."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Allow-list entries (CIDRs or single addresses); a bad one is named."""
    found: list[Network] = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise InputError(f"egress allow-list entry {entry!r} is not a network") from exc
    return tuple(found)


def env_allow(environ: dict[str, str] | None = None) -> tuple[Network, ...]:
    env = os.environ if environ is None else environ
    return networks(n for name in ENV_ALLOW for n in env.get(name, "").split(",") if n.strip())


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64) or (address in _COMPAT and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def denied_reason(address: Address) -> str | None:
    """Why ``address`` is not a public unicast address, or None if it is one."""
    inner = embedded_ipv4(address)
    if inner is not None:
        why = denied_reason(inner)
        return f"it embeds {inner}, {why}" if why else None
    for flag in ("loopback", "private", "link_local", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{flag}"):
            return f"{flag.replace('_', '-')} address"
    if not address.is_global or any(address in net for net in _EXTRA_DENIED):
        return "special-purpose address"
    return None


def _system_resolver(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class Policy:
    """Which addresses may be connected to: public ones, and allow-listed networks."""

    def __init__(self, allow: Sequence[Network] = (), resolver: Resolver | None = None) -> None:
        self.allow = tuple(allow)
        self.resolver = resolver or _system_resolver

    def resolve(self, host: str, port: int) -> list[Address]:
        """Every address ``host`` resolves to, each checked; raises if any is denied."""
        try:
            found = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
        except (OSError, ValueError) as exc:
            raise InputError(f"target host {host!r} does not resolve") from exc
        if not found:
            raise InputError(f"target host {host!r} does not resolve")
        for address in found:
            self.check(host, address)
        return found

    def check(self, host: str, address: Address) -> None:
        if self.allowed(address):
            return
        why = denied_reason(address)
        if why:
            raise EgressDenied(
                f"target {host} resolves to internal address {address} ({why}); an "
                "administrator must allow-list that network (andon egress allow, for the "
                "tenant; ANDON_EGRESS_ALLOW, for the process)"
            )

    def allowed(self, address: Address) -> bool:
        inner = embedded_ipv4(address)
        return any(a in net for net in self.allow for a in (address, inner) if a is not None)

    def check_url(self, url: str, schemes: Sequence[str] = ("http", "https")) -> None:
        """Refuse a URL whose host resolves anywhere denied (checked again on connect)."""
        parts = httpx.URL(url) if "://" in url else None
        if parts is None or parts.scheme not in schemes or not parts.host:
            raise InputError(f"target {url!r} must be a {'/'.join(schemes)} URL with a host")
        default = {"https": 443, "http": 80, "nats": 4222, "smtp": 25}.get(parts.scheme, 0)
        self.resolve(parts.host, parts.port or default)


def connect(
    host: str, port: int, timeout: float | None, policy: Policy | None = None
) -> socket.socket:
    """A TCP socket to a checked address of ``host`` (for protocols other than HTTP: SMTP);
    TLS on it is still verified against ``host`` by the caller."""
    failure: OSError | None = None
    try:
        addresses = (policy or client().policy).resolve(host, port)
    except InputError as exc:  # does not resolve (now): a connection failure, retried
        raise OSError(str(exc)) from exc
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout)
        except OSError as exc:
            failure = exc
    raise failure or OSError(f"cannot connect to {host}:{port}")


class _GuardedStream(httpcore.NetworkStream):
    """A socket whose reads and writes end at the call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _GuardedStream(
            self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _bounded(timeout: float | None) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the call's total time is up")
    return left if timeout is None else min(timeout, left)


class _GuardedBackend(httpcore.SyncBackend):
    """Connects to an address the policy checked, never to a name resolved elsewhere."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        try:
            addresses = self.policy.resolve(host, port)
        except InputError as exc:  # a name that does not resolve (now): retried like a refusal
            raise httpcore.ConnectError(str(exc)) from exc
        for address in addresses:
            try:
                stream = super().connect_tcp(
                    str(address), port, _bounded(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _GuardedStream(stream)
        raise failure or httpcore.ConnectError(f"cannot connect to {host}:{port}")


class EgressClient:
    """One pooled HTTP client (keep-alive, one TLS context) under one policy."""

    def __init__(
        self, policy: Policy, max_bytes: int = MAX_BYTES, context: ssl.SSLContext | None = None
    ) -> None:
        self.policy = policy
        self.max_bytes = max_bytes
        context = context or ssl.create_default_context()
        transport = httpx.HTTPTransport(verify=context, retries=0)
        # httpx has no knob for the network backend: the pool is rebuilt with ours.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=context, max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, network_backend=_GuardedBackend(policy),
        )  # fmt: skip
        # No proxies from the environment: they would connect on our behalf, unchecked.
        self._http = httpx.Client(transport=transport, follow_redirects=False, trust_env=False)

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        auth: httpx.Auth | None = None,
    ) -> Reply:
        """The answer, read whole within ``timeout`` seconds and ``max_bytes``; a redirect
        is an error naming where it points. Raises httpx errors and EgressDenied."""
        token = _deadline.set(time.monotonic() + timeout)
        try:
            with self._http.stream(
                method, url, headers=headers, content=content, json=json, auth=auth,
                timeout=timeout,
            ) as response:  # fmt: skip
                if 300 <= response.status_code < 400:
                    where = response.headers.get("location", "nowhere")
                    raise httpx.HTTPStatusError(
                        f"answered {response.status_code} redirecting to {where}; "
                        "redirects are not followed",
                        request=response.request, response=response,
                    )  # fmt: skip
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise httpx.DecodingError(
                            f"answer is larger than {self.max_bytes} bytes",
                            request=response.request,
                        )
                return Reply(response.status_code, response.headers, bytes(body))
        finally:
            _deadline.reset(token)

    def close(self) -> None:
        self._http.close()


_clients: dict[tuple[Network, ...], EgressClient] = {}
_lock = threading.Lock()


def client(extra_allow: Sequence[Network] = ()) -> EgressClient:
    """The process's shared client for the environment's allow-list plus ``extra_allow``
    (one per distinct list, so webhooks and actions share connections where they can)."""
    allow = tuple(dict.fromkeys((*env_allow(), *extra_allow)))
    with _lock:
        found = _clients.get(allow)
        if found is None:
            found = _clients[allow] = EgressClient(Policy(allow))
        return found


@atexit.register
def _close_all() -> None:
    """Close the shared clients' idle connections when the process ends."""
    with _lock:
        for found in _clients.values():
            found.close()
        _clients.clear()
