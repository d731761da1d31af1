"""A test kit for Andon and for the templates built on it: a clock that moves only when told
to, an installation on a database of its own, and builders for people, published templates
and the reference NCR's input. Andon's own suite is built on it (tests/conftest.py).

    from andon import testing

    def test_the_qe_gets_the_review(tmp_path):
        with testing.app(tmp_path, clock=testing.ManualClock(testing.T0)) as app:
            testing.publish(app.service, app.actor(), REVIEW_TEMPLATE)
            qe = testing.person(app, "u-qe", "QE@DE-STR")
            ...
            testing.drain(app)

docs/templates.md ("Testing your templates") walks through a whole run of supplier-ncr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import andon
from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.core.json import JsonObject, JsonValue
from andon.core.loader import load_template
from andon.core.template import Template, WaitSpec
from andon.governance.identity import Actor, PrincipalKind
from andon.runtime.clock import Clock, ManualClock
from andon.runtime.directory import DEFAULT_TENANT
from andon.runtime.service import Andon
from andon.runtime.worker import WorkerSettings
from andon.store.transaction import SqlReader

__all__ = [
    "REFERENCE_CONTRACTS",
    "T0",
    "ManualClock",
    "accept_any",
    "app",
    "declare_events",
    "drain",
    "ncr_input",
    "person",
    "publish",
    "settings",
    "tenant_reader",
]

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
"""A Monday at the start of the early shift: where a test's ManualClock usually starts."""

REFERENCE_CONTRACTS = Path(andon.__file__).resolve().parents[2] / "templates" / "contracts"
"""The contracts of the events the reference templates read, in a source checkout (an
installed package has none: publish then derives them all)."""

FREE_FORM: JsonObject = {"type": "object", "additionalProperties": True}


def settings(folder: Path, url: str | None = None, **fields: Any) -> Settings:
    """Settings on ``url`` (by default a SQLite file in ``folder``), with the signing and
    secrets keys in ``folder`` rather than the user's configuration; ``fields`` replace
    any other Settings field (``action_modules=...``, ``webhook_allow=...``)."""
    store = StoreSettings(url or f"sqlite:///{folder / 'andon.db'}")
    keys = Settings(
        store=store,
        signing_key=folder / "keys" / "signing-key",
        secrets_key=folder / "secrets-key",
    )
    return replace(keys, **fields)


@contextmanager
def app(
    folder: Path, url: str | None = None, *, clock: Clock | None = None, **fields: Any
) -> Iterator[bootstrap.App]:
    """An installation as ``andon serve`` builds it, on the database of :func:`settings`,
    closed on leaving. Pass a ManualClock to control time (the system clock otherwise)."""
    built = bootstrap.build(settings(folder, url, **fields), clock=clock)
    try:
        yield built
    finally:
        built.close()


def drain(app: bootstrap.App) -> int:
    """Run what is due on one worker thread until nothing is left; returns how many items
    ran. Time stands still meanwhile: move a ManualClock to make timers and retries due."""
    worker = app.worker(WorkerSettings(threads=1))
    total = 0
    try:
        while done := worker.run_once():
            total += done
    finally:
        worker.close()
    return total


def person(
    app: bootstrap.App,
    user_id: str,
    *roles: str,
    tenant: str = DEFAULT_TENANT,
    kind: PrincipalKind = PrincipalKind.PERSON,
    password: str | None = None,
) -> Actor:
    """``user_id`` with tenant-wide ``roles`` (``ROLE@SITE`` for one site, the site made
    if new), created by the tenant's administrator as an admin would, unless it exists."""
    admin = app.actor("admin" if tenant == DEFAULT_TENANT else f"admin@{tenant}", tenant)
    with app.service.store.transaction() as tx:
        exists = tx.user(user_id) is not None
    if not exists:
        app.directory.create_user(admin, user_id, user_id.upper(), kind=kind, password=password)
    for value in roles:
        role, _, site = value.partition("@")
        if site:
            with app.service.store.transaction() as tx:
                known = tx.scoped(tenant).site_exists(site)
            if not known:
                app.directory.create_site(admin, site, site)
        app.directory.grant(admin, user_id, role, site)
    return app.actor(user_id, tenant)


@contextmanager
def tenant_reader(app: bootstrap.App, tenant: str = DEFAULT_TENANT) -> Iterator[SqlReader]:
    """A read-only view of ``tenant``'s rows, for asserting on what was stored."""
    with app.service.store.reader() as reader:
        yield reader.scoped(tenant)


def declare_events(
    service: Andon, actor: Actor, text: str, *, contracts: Path = REFERENCE_CONTRACTS
) -> None:
    """Register a contract for each event type the template ``text`` reads that the
    standard catalogue and the tenant lack: ``<contracts>/<type>.json`` when there is one,
    else derived (a trigger's event carries the template's input, a waited-for event is a
    free-form object). Publishing checks templates against contracts (ADR 0013)."""
    template = load_template(text)
    known = {c.event_type for c in service.contracts(actor)}
    wanted: dict[str, JsonObject] = {}
    for step in template.steps.values():
        if isinstance(step.spec, WaitSpec):
            wanted.setdefault(step.spec.event, FREE_FORM)
    for trigger in template.triggers:
        wanted[trigger.event] = {**template.input_schema, "additionalProperties": True}
    for event_type, schema in wanted.items():
        shipped = contracts / f"{event_type}.json"
        if shipped.is_file():
            schema = json.loads(shipped.read_text("utf-8"))
        if event_type not in known:
            service.register_contract(actor, event_type, schema)


def publish(
    service: Andon,
    actor: Actor,
    text: str,
    source: str = "",
    *,
    contracts: Path = REFERENCE_CONTRACTS,
) -> Template:
    """Publish the template ``text`` once the events it reads have contracts."""
    declare_events(service, actor, text, contracts=contracts)
    return service.publish_template(actor, text, source)


def accept_any(service: Andon, actor: Actor, *event_types: str) -> None:
    """Free-form contracts for made-up event types a test sends without a template that
    reads them (any object is accepted)."""
    for event_type in event_types:
        service.register_contract(actor, event_type, FREE_FORM)


def ncr_input(**overrides: JsonValue) -> JsonObject:
    """The input of a run of the reference ``supplier-ncr`` template (a new object each
    call): six castings of a lot scrapped, worth 2,500 EUR; ``overrides`` replace fields."""
    return {
        "ncr_id": "NCR-DE-00871",
        "part": "RC-4711-CAST",
        "lot": "L2611-0042",
        "supplier": "S-1003",
        "qty_rejected": 6,
        "value": {"amount": 2500, "currency": "EUR"},
        "disposition": "scrap",
        "severity": "M",
        "defect_code": "SUR-002",
        **overrides,
    }
