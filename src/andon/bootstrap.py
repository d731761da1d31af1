"""The composition root: the only place that picks concrete adapters."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from andon.actions import email, http
from andon.actions.registry import ActionRegistry
from andon.config import Settings
from andon.errors import InputError
from andon.governance.identity import Actor
from andon.intake import cloudevents
from andon.observability.settings import TelemetrySettings
from andon.observability.tracing import Tracing
from andon.runtime.audit import Auditor
from andon.runtime.checkpoint_log import CheckpointLog
from andon.runtime.clock import Clock, SystemClock
from andon.runtime.connections import Connections
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN, Directory, SecondFactor
from andon.runtime.dry_run import DryRuns
from andon.runtime.egress_allow import EgressAllow
from andon.runtime.evidence import Evidence
from andon.runtime.hooks import Hooks
from andon.runtime.keys import KeyRing
from andon.runtime.lifecycle import Lifecycle
from andon.runtime.notify import Network, Notifier
from andon.runtime.promotions import Promotions
from andon.runtime.retention import Retention
from andon.runtime.secretbox import SecretBox, SecretKeys
from andon.runtime.service import Andon
from andon.runtime.tokens import Tokens
from andon.runtime.worker import Worker, WorkerSettings
from andon.store.postgres import PostgresStore
from andon.store.sql import SqlStore
from andon.store.sqlite import SqliteStore
from andon.telemetry.hub import Telemetry
from andon.telemetry.metrics import StoreMetrics
from andon.telemetry.runs import RunSpans, SpanSignals


@dataclass
class App:
    service: Andon
    directory: Directory
    auditor: Auditor
    retention: Retention
    evidence: Evidence
    tokens: Tokens
    hooks: Hooks
    notifier: Notifier
    actions: ActionRegistry
    connections: Connections
    secret_keys: SecretKeys
    telemetry: Telemetry
    egress_allow: EgressAllow
    lifecycle: Lifecycle
    promotions: Promotions
    dry_runs: DryRuns
    action_timeout_s: float | None = None
    """The timeout of action steps that set none (ANDON_ACTION_TIMEOUT); None: the worker's."""

    def actor(self, user_id: str = LOCAL_ADMIN, tenant_id: str = DEFAULT_TENANT) -> Actor:
        """``user_id`` acting in ``tenant_id`` (by default the local administrator)."""
        return self.directory.actor(tenant_id, user_id)

    def worker(self, settings: WorkerSettings | None = None, **kwargs: object) -> Worker:
        """A worker; its default action timeout is the installation's unless ``settings``
        name one."""
        settings = settings or WorkerSettings()
        if settings.action_timeout_s is None:
            settings = replace(settings, action_timeout_s=self.action_timeout_s)
        kwargs.setdefault("notifier", self.notifier)
        kwargs.setdefault("tracing", self.telemetry.tracing)
        return Worker(self.service, self.actions, settings, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.telemetry.close()
        self.notifier.close()
        self.service.store.close()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    new_id: Callable[[], str] | None = None,
    second_factor: SecondFactor | None = None,
    telemetry: TelemetrySettings | None = None,
    tracing: Tracing | None = None,
) -> App:
    """Telemetry comes from the ``OTEL_*``/``ANDON_METRICS_*`` environment unless given."""
    store: SqlStore
    if settings.store.backend == "postgresql":
        store = PostgresStore(
            settings.store.url, allow_async_commit=settings.store.allow_async_commit
        )
    else:
        store = SqliteStore(settings.store.sqlite_path, synchronous=settings.store.synchronous)
    clock = clock or SystemClock()
    box = SecretBox.configured(settings.secrets_key_path)
    connections = Connections(store, clock, box)
    egress_allow = EgressAllow(store, clock)
    actions = ActionRegistry(connections, egress_allow.networks)
    http.register(actions)
    email.register(actions)
    actions.load_modules(settings.action_modules)
    directory = Directory(store, clock, second_factor)
    service = Andon(
        store, clock, new_id=new_id, authenticate=directory.authenticate,
        action_names=actions.names,
    )  # fmt: skip
    telemetry = telemetry or TelemetrySettings.load(os.environ)
    tracing = tracing or Tracing.configured(telemetry)
    if tracing.enabled:  # runs that end in this process get their run and step spans
        service.signals = SpanSignals(RunSpans(store, service.templates.get, tracing).ended)
    directory.ensure_installation()
    keys = KeyRing(
        settings.signing_key_path,
        database_dir=settings.database_dir,
        allow_beside_db=settings.audit.allow_key_beside_db,
        legacy=None if settings.signing_key else settings.legacy_signing_key_path,
    )
    log_path = settings.checkpoint_log_path
    log = CheckpointLog(log_path, settings.audit.witness_url) if log_path else None
    auditor = Auditor(store, clock, keys, log)
    retention = Retention(store, clock, service.templates, keys)
    evidence = Evidence(service, auditor)
    tokens = Tokens(store, clock, directory)
    hooks = Hooks(store, clock, service, directory, box)
    service.remappers["webhook"] = hooks.remap
    # CloudEvents JSON maps again by itself; Sparkplug's binary payloads need the session's
    # alias tables and cannot (their letters are discarded once the cause is fixed).
    for kind in ("nats", "mqtt"):
        service.remappers[kind] = lambda _tenant, _channel, payload: cloudevents.parse(
            payload.encode()
        )
    notifier = Notifier(store, clock, box, _networks(settings.webhook_allow), tracing=tracing)
    notifier.tenant_allow = egress_allow.networks
    service.facts.notifications = notifier
    metrics = StoreMetrics(store, clock, service.templates.get, cache_s=telemetry.metrics_cache_s)
    lifecycle = Lifecycle(store, clock)
    dry_runs = DryRuns(service)
    promotions = Promotions(service, lifecycle, actions, dry_runs)
    return App(
        service, directory, auditor, retention, evidence, tokens, hooks, notifier, actions,
        connections, SecretKeys(store, clock, box), Telemetry(telemetry, tracing, metrics),
        egress_allow, lifecycle, promotions, dry_runs, settings.action_timeout_s,
    )  # fmt: skip


def _networks(values: tuple[str, ...]) -> list[Network]:
    try:
        return [ipaddress.ip_network(v, strict=False) for v in values]
    except ValueError as exc:
        raise InputError(f"ANDON_WEBHOOK_ALLOW: {exc}") from exc
