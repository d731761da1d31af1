"""A tenant's named connections: where an action connects (an HTTP base URL, an SMTP
server), how it authenticates, and its one secret (password, token or API key), sealed with
the secret box. People read the settings, never the secret; actions get it through
``resolve`` for the run's tenant only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from andon.actions.registry import ConnectionConfig, Secret
from andon.core.json import JsonObject, JsonValue
from andon.errors import InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.directory import check_id
from andon.runtime.operations import operation
from andon.runtime.secretbox import SecretBox, purpose
from andon.store import connections as rows
from andon.store.sql import SqlStore

HTTP = "http"
SMTP = "smtp"
KINDS = (HTTP, SMTP)
AUTH_SCHEMES = ("none", "basic", "bearer", "api-key")
API_KEY_HEADER = "X-API-Key"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110)
_CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie"}


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A connection as people see it: its settings and whether it has a secret."""

    name: str
    kind: str
    settings: JsonObject
    has_secret: bool
    updated_by: str
    updated_at: float


class Connections:
    def __init__(self, store: SqlStore, clock: Clock, box: SecretBox) -> None:
        self.store = store
        self.clock = clock
        self.box = box

    @operation(Permission.SECRETS_MANAGE)
    def set_connection(
        self,
        actor: Actor,
        name: str,
        kind: str,
        settings: Mapping[str, JsonValue],
        secret: str | None = None,
    ) -> ConnectionInfo:
        """Create or replace a connection; ``secret=None`` keeps the one it has."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        check_id(name, "connection name")
        if secret is not None and (not secret or secret != secret.strip()):
            raise InputError("the secret is empty or starts or ends with white space")
        checked, needs_secret = _checked(kind, settings)
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            old = tx.connections.get(name)
            aim = purpose("connection", tx.tenant, name)
            if secret is not None:
                if not needs_secret:
                    raise InputError(f"this {kind} connection takes no secret ({_needs(kind)})")
                secret_state, secrets = "set", {"secret": secret}
            elif needs_secret:
                kept = {} if old is None or old.kind != kind else self._secrets(old)
                if "secret" not in kept:
                    raise InputError(f"this connection needs a secret ({_needs(kind)})")
                secret_state, secrets = "kept", kept
            else:
                secret_state, secrets = "none", {}
            row = rows.ConnectionRow(
                tx.tenant, name, kind, checked, self.box.seal(json.dumps(secrets), aim),
                actor.user_id, old.created_at if old else now, now,
            )  # fmt: skip
            tx.connections.save(row)
            # The chain says whether the secret changed, never what it is (not even a hash:
            # a password's hash invites guessing).
            admin_chain.record(
                tx, "connection.set", name,
                {"kind": kind, "settings": checked, "secret": secret_state},
                actor.user_id, now,
            )  # fmt: skip
        return _info(row, "secret" in secrets)

    @operation(Permission.TEMPLATE_READ)
    def connections(self, actor: Actor) -> list[ConnectionInfo]:
        """The tenant's connections (what templates name), without their secrets."""
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            found = reader.scoped(actor.tenant_id).connections.all()
        return [_info(r, self._has_secret(r)) for r in found]

    @operation(Permission.TEMPLATE_READ)
    def connection(self, actor: Actor, name: str) -> ConnectionInfo:
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            row = _existing(reader.scoped(actor.tenant_id).connections.get(name), name)
        return _info(row, self._has_secret(row))

    @operation(Permission.SECRETS_MANAGE)
    def delete_connection(self, actor: Actor, name: str) -> None:
        authz.require(actor, Permission.SECRETS_MANAGE)
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if not tx.connections.delete(name):
                raise NotFoundError(f"no connection '{name}'")
            admin_chain.record(tx, "connection.deleted", name, {}, actor.user_id, now)

    def resolve(self, tenant_id: str, name: str) -> ConnectionConfig:
        """The connection with its secret, for an action of a run of ``tenant_id``."""
        with self.store.reader() as reader:
            row = _existing(reader.scoped(tenant_id).connections.get(name), name)
        secret = self._secrets(row).get("secret")
        return ConnectionConfig(
            row.name, row.kind, row.settings, None if secret is None else Secret(secret)
        )

    def _has_secret(self, row: rows.ConnectionRow) -> bool:
        return "secret" in self._secrets(row)

    def _secrets(self, row: rows.ConnectionRow) -> dict[str, str]:
        aim = purpose("connection", row.tenant_id, row.name)
        opened: dict[str, str] = json.loads(self.box.open(row.sealed, aim))
        return opened


def _existing(row: rows.ConnectionRow | None, name: str) -> rows.ConnectionRow:
    if row is None:
        raise NotFoundError(f"no connection '{name}'")
    return row


def _info(row: rows.ConnectionRow, has_secret: bool) -> ConnectionInfo:
    return ConnectionInfo(
        row.name, row.kind, row.settings, has_secret, row.updated_by, row.updated_at
    )


# ---- settings ------------------------------------------------------------------------------


def _checked(kind: str, settings: Mapping[str, JsonValue]) -> tuple[JsonObject, bool]:
    """The settings, complete with defaults, and whether they need a secret; ``InputError``
    naming what is wrong."""
    if kind == HTTP:
        checked = _http(dict(settings))
        return checked, checked["auth"] != "none"
    if kind == SMTP:
        checked = _smtp(dict(settings))
        return checked, "username" in checked
    raise InputError(f"a connection's kind must be one of {', '.join(KINDS)}, not {kind!r}")


def _needs(kind: str) -> str:
    if kind == HTTP:
        return "auth basic, bearer and api-key need a secret; auth none takes none"
    return "an SMTP login (a username) needs a password; without a username, none"


def _http(given: dict[str, JsonValue]) -> JsonObject:
    _known(given, {"url", "auth", "username", "header", "timeout_s", "headers"}, HTTP)
    url = _text(given, "url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"url {url!r} must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise InputError("url may not carry credentials: give them as the secret")
    if parts.query or parts.fragment:
        raise InputError("url is a base URL: no query or fragment (steps give a 'path')")
    auth = str(given.get("auth") or "none")
    if auth not in AUTH_SCHEMES:
        raise InputError(f"auth must be one of {', '.join(AUTH_SCHEMES)}, not {auth!r}")
    out: JsonObject = {"url": url.rstrip("/"), "auth": auth}
    if auth == "basic":
        out["username"] = _text(given, "username")
        if ":" in str(out["username"]):
            raise InputError("username may not contain ':' (basic auth)")
    elif "username" in given:
        raise InputError("username is for auth basic only")
    if auth == "api-key":
        out["header"] = _header_name(given.get("header") or API_KEY_HEADER, "header")
    elif "header" in given:
        raise InputError("header (the API key's header name) is for auth api-key only")
    headers = given.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise InputError("headers must map header names to strings")
    forbidden = {*_CREDENTIAL_HEADERS, str(out.get("header", "")).lower()}
    for header in headers:
        if _header_name(header, "headers").lower() in forbidden:
            raise InputError(f"headers may not set {header}: credentials go in the secret")
    out["headers"] = dict(sorted(headers.items()))
    return _timeout(given, out)


def _smtp(given: dict[str, JsonValue]) -> JsonObject:
    _known(given, {"host", "port", "from", "starttls", "username", "timeout_s"}, SMTP)
    starttls = given.get("starttls", True)
    if not isinstance(starttls, bool):
        raise InputError("starttls must be true or false")
    port = given.get("port") or (587 if starttls else 25)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise InputError(f"port must be a TCP port number, not {port!r}")
    sender = _text(given, "from")
    if "@" not in sender:
        raise InputError(f"from {sender!r} is not an email address")
    out: JsonObject = {"host": _text(given, "host"), "port": port, "from": sender}
    out["starttls"] = starttls
    if given.get("username"):
        out["username"] = _text(given, "username")
    return _timeout(given, out)


def _known(given: Mapping[str, JsonValue], known: set[str], kind: str) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise InputError(
            f"unknown {kind} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def _text(given: Mapping[str, JsonValue], key: str) -> str:
    value = given.get(key)
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n"):
        raise InputError(f"{key} is required (one line of text)")
    return value.strip()


def _header_name(value: JsonValue, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise InputError(f"{what}: {value!r} is not an HTTP header name")
    return value


def _timeout(given: Mapping[str, JsonValue], out: JsonObject) -> JsonObject:
    timeout = given.get("timeout_s")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise InputError("timeout_s must be a number of seconds")
        if not 0 < timeout <= 3600:
            raise InputError("timeout_s must be more than 0 and at most 3600 seconds")
        out["timeout_s"] = float(timeout)
    return out
