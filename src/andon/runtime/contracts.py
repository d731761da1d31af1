"""The event contract registry of a tenant: the standard catalogue, then its own versions.

A new version is accepted only when it is backward compatible with the newest one of its
type (``core.contracts.incompatibilities``); registering the same schema again is a no-op.
"""

from __future__ import annotations

from andon import contracts as standard
from andon.core.contracts import EventContract, incompatibilities, schema_problems
from andon.core.instances import InstanceSchema
from andon.core.json import JsonValue
from andon.core.loader import EVENT_TYPE_PATTERN
from andon.errors import ConflictError, ContractViolation, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.operations import operation
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction


def effective(tx: SqlTransaction) -> dict[str, EventContract]:
    """The newest contract of every type the tenant knows (its own over the standard)."""
    return {**standard.catalogue(), **tx.latest_contracts()}


def check_event(tx: SqlTransaction, event_type: str, data: JsonValue) -> None:
    """Refuse an event whose type has no contract or whose data breaks the newest one,
    naming every offending field."""
    contract = tx.newest_contract(event_type) or standard.catalogue().get(event_type)
    if contract is None:
        raise ContractViolation(
            f"no contract is registered for event type '{event_type}' "
            "(register its JSON Schema first: andon contracts register)"
        )
    problems = _compiled(contract).problems(data, "data")
    if problems:
        raise ContractViolation(
            f"{event_type} does not match contract v{contract.version}: " + "; ".join(problems)
        )


_VALIDATORS: dict[str, InstanceSchema] = {}


def _compiled(contract: EventContract) -> InstanceSchema:
    """Compiled once per schema digest: every inbound event is checked."""
    found = _VALIDATORS.get(contract.digest)
    if found is None:
        if len(_VALIDATORS) > 1024:
            _VALIDATORS.clear()
        found = _VALIDATORS[contract.digest] = InstanceSchema(contract.schema)
    return found


class ContractDesk:
    """The contract operations of the service (mixed into ``Andon``)."""

    store: SqlStore
    clock: Clock

    @operation(Permission.TEMPLATE_PUBLISH)
    def register_contract(self, actor: Actor, event_type: str, schema: JsonValue) -> EventContract:
        """Register the next version of ``event_type``'s contract (its first, for a type
        the catalogue lacks); refused, naming every field, when it is not compatible."""
        authz.require(actor, Permission.TEMPLATE_PUBLISH)
        if not EVENT_TYPE_PATTERN.fullmatch(event_type):
            raise InputError(f"'{event_type}' is not a dotted event type like 'machine.stopped'")
        problems = schema_problems(schema)
        if problems:
            raise InputError(f"contract for {event_type}: " + "; ".join(problems))
        assert isinstance(schema, dict)
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            latest = effective(tx).get(event_type)
            new = EventContract(
                event_type, latest.version + 1 if latest else 1, schema, standard.digest(schema)
            )
            if latest is not None and latest.digest == new.digest:
                return latest
            if latest is not None:
                broken = incompatibilities(latest.schema, schema)
                if broken:
                    raise ConflictError(
                        f"{event_type} v{new.version} is not backward compatible with "
                        f"v{latest.version}: "
                        + "; ".join(broken)
                        + " (a breaking change needs a new event type, e.g. "
                        f"{event_type}.v2)"
                    )
            tx.insert_contract(new, actor.user_id, now)
            admin_chain.record(
                tx, "contract.registered", f"{event_type}@{new.version}",
                {"digest": new.digest}, actor.user_id, now,
            )  # fmt: skip
        return new

    @operation(Permission.TEMPLATE_READ)
    def contracts(self, actor: Actor) -> list[EventContract]:
        """The newest contract of every event type the tenant can use."""
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            own = {c.event_type: c for c in reader.scoped(actor.tenant_id).latest_contracts()}
        return sorted({**standard.catalogue(), **own}.values(), key=lambda c: c.event_type)

    @operation(Permission.TEMPLATE_READ)
    def contract(self, actor: Actor, event_type: str, version: int | None = None) -> EventContract:
        """One version of a contract (the newest by default)."""
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            own = reader.scoped(actor.tenant_id).contract_versions(event_type)
        base = standard.catalogue().get(event_type)
        versions = ([base] if base else []) + own
        for found in reversed(versions):
            if version is None or found.version == version:
                return found
        which = f"version {version} of " if version is not None else ""
        raise NotFoundError(f"no {which}a contract for event type '{event_type}'")
