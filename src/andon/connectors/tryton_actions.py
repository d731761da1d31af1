"""The ``tryton.*`` purchase-requisition actions, on the JSON-RPC client of ``tryton``.

They read their connection at call time (so a rotated secret needs no restart) from
``ANDON_TRYTON_URL`` (e.g. ``http://erp.plant:8000``), ``ANDON_TRYTON_DB``,
``ANDON_TRYTON_USER`` and ``ANDON_TRYTON_PASSWORD``; load them with the action module
``andon.connectors.tryton_actions``. They connect through the run's tenant's egress client,
so a Tryton on a private or loopback address must be allow-listed (``ANDON_EGRESS_ALLOW``,
or the tenant's ``andon egress allow``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from andon import egress
from andon.actions.registry import ActionCall, ActionRegistry
from andon.connectors.tryton import DEFAULT_TIMEOUT_S, TrytonClient
from andon.core.json import JsonObject, JsonValue
from andon.errors import ActionError

REQUISITION: Final = "purchase.requisition"
_ENV: Final = ("ANDON_TRYTON_URL", "ANDON_TRYTON_DB", "ANDON_TRYTON_USER", "ANDON_TRYTON_PASSWORD")


@dataclass(frozen=True, slots=True)
class TrytonSettings:
    """Where and as whom the actions connect."""

    url: str
    database: str
    login: str
    password: str = field(repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TrytonSettings:
        missing = [name for name in _ENV if not environ.get(name)]
        if missing:
            raise ActionError(f"Tryton is not configured: set {', '.join(missing)}", permanent=True)
        return cls(*(environ[name] for name in _ENV))


def _connect(call: ActionCall, registry: ActionRegistry | None) -> TrytonClient:
    """A client for the configured Tryton, sending through the run's tenant's egress client
    (the process's allow-list plus the tenant's); without a registry, the process's alone."""
    s = TrytonSettings.from_environ(os.environ)
    http = registry.egress_client(call) if registry is not None else egress.client()
    timeout_s = call.timeout_s or DEFAULT_TIMEOUT_S
    return TrytonClient(s.url, s.database, s.login, s.password, timeout_s, http=http)


def _bad(message: str) -> ActionError:
    return ActionError(message, permanent=True)


def _required(data: Mapping[str, JsonValue], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"'{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _optional(data: Mapping[str, JsonValue], key: str) -> str | None:
    return None if data.get(key) is None else _required(data, key)


def _one(client: TrytonClient, model: str, domain: list[object], what: str, value: str) -> int:
    """The id of the single record matching ``domain``; ambiguity is the caller's mistake."""
    rows = client.search_read(model, domain, ["id"], limit=2)
    if len(rows) != 1:
        found = "no" if not rows else "more than one"
        raise _bad(f"Tryton has {found} {model} matching {what} '{value}'")
    record_id = rows[0]["id"]
    if not isinstance(record_id, int):
        raise _bad(f"Tryton {model} answered a non-integer id {record_id!r}")
    return record_id


def _code_or_name(value: str) -> list[object]:
    return ["OR", ("code", "=", value), ("name", "=", value)]


@dataclass(frozen=True, slots=True)
class _Line:
    product: str
    quantity: float
    unit_price: Decimal
    supplier: str | None
    description: str | None


def _parse_line(data: JsonValue, default_supplier: str | None) -> _Line:
    """Check one input line before anything is sent to Tryton."""
    if not isinstance(data, dict):
        raise _bad(f"each line must be an object, got {data!r}")
    quantity = data.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int | float) or not quantity > 0:
        raise _bad(f"line quantity must be a positive number, got {quantity!r}")
    try:
        unit_price = Decimal(str(data.get("unit_price")))
    except InvalidOperation:
        raise _bad(f"line unit_price must be a number, got {data.get('unit_price')!r}") from None
    if not unit_price.is_finite() or unit_price < 0:
        raise _bad(f"line unit_price must be zero or more, got {unit_price}")
    return _Line(
        _required(data, "product"),
        float(quantity),
        unit_price,
        _optional(data, "supplier") or default_supplier,
        _optional(data, "description"),
    )


def _line_values(client: TrytonClient, line: _Line, suppliers: dict[str, int]) -> dict[str, object]:
    """Resolve a line's product and supplier to Tryton ids (suppliers memoised per call)."""
    domain = [("purchasable", "=", True), _code_or_name(line.product)]
    rows = client.search_read("product.product", domain, ["purchase_uom"], limit=2)
    if len(rows) != 1:
        found = "no" if not rows else "more than one"
        raise _bad(f"Tryton has {found} purchasable products matching '{line.product}'")
    values: dict[str, object] = {
        "product": rows[0]["id"],
        "unit": rows[0]["purchase_uom"],
        "quantity": line.quantity,
        "unit_price": line.unit_price,
    }
    if line.supplier is not None:
        if line.supplier not in suppliers:
            party = _code_or_name(line.supplier)
            suppliers[line.supplier] = _one(client, "party.party", party, "supplier", line.supplier)
        values["supplier"] = suppliers[line.supplier]
    if line.description is not None:
        values["description"] = line.description
    return values


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _summary(row: JsonObject, *, created: bool | None = None) -> JsonObject:
    summary: JsonObject = {
        "requisition_id": row["id"],
        "number": row.get("number"),
        "state": row.get("state"),
    }
    if created is not None:
        summary["created"] = created
    return summary


def create_purchase_requisition(
    call: ActionCall, registry: ActionRegistry | None = None
) -> JsonValue:
    """Create a draft purchase requisition; a retried attempt returns the first one.

    Input: ``description``; ``lines`` as ``[{product, quantity, unit_price, supplier?,
    description?}]`` or one line given as top-level ``product``/``quantity``/``unit_price``;
    optional ``supplier`` (party code or name, the default for lines), ``currency`` (ISO
    code), ``requester`` (employee name; default: the connecting user's employee),
    ``warehouse`` (location code or name) and ``supply_date`` (ISO date; default today).
    Products are matched by code or name. ``[andon:<idempotency key>]`` is appended to the
    description and searched for first: a later attempt of the same step visit (after a
    timeout whose request may have gone through) finds the requisition the first one made
    instead of making another; a loop's next visit makes its own.
    """
    data = call.input
    description = _required(data, "description")
    raw_lines = data.get("lines", [data] if "product" in data else None)
    if not isinstance(raw_lines, list) or not raw_lines:
        raise _bad("give 'lines' (a non-empty list) or a single 'product'")
    lines = [_parse_line(raw, _optional(data, "supplier")) for raw in raw_lines]
    supply = _optional(data, "supply_date")
    try:
        supply_date = date.fromisoformat(supply) if supply else datetime.now(UTC).date()
    except ValueError:
        raise _bad(f"'supply_date' must be an ISO date, got {supply!r}") from None
    marker = f"[andon:{call.idempotency_key}]"
    with _connect(call, registry) as client:
        mine = [("description", "like", "%" + _escape_like(marker))]
        if existing := client.search_read(REQUISITION, mine, ["number", "state"], limit=1):
            return _summary(existing[0], created=False)
        suppliers: dict[str, int] = {}
        values: dict[str, object] = {
            "description": f"{description} {marker}",
            "supply_date": supply_date,
            "lines": [["create", [_line_values(client, line, suppliers) for line in lines]]],
        }
        if currency := _optional(data, "currency"):
            domain: list[object] = [("code", "=", currency)]
            values["currency"] = _one(client, "currency.currency", domain, "code", currency)
        if requester := _optional(data, "requester"):
            domain = [("party.name", "=", requester)]
            values["employee"] = _one(client, "company.employee", domain, "requester", requester)
        if warehouse := _optional(data, "warehouse"):
            domain = [("type", "=", "warehouse"), _code_or_name(warehouse)]
            values["warehouse"] = _one(client, "stock.location", domain, "warehouse", warehouse)
        requisition_id = client.create(REQUISITION, values)
        return _summary(_read_state(client, requisition_id), created=True)


def _requisition_id(data: Mapping[str, JsonValue]) -> int:
    value = data.get("requisition_id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad(f"'requisition_id' must be a positive integer, got {value!r}")
    return value


def _read_state(client: TrytonClient, requisition_id: int) -> JsonObject:
    rows = client.read(REQUISITION, [requisition_id], ["number", "state"])
    if not rows:
        raise _bad(f"Tryton has no {REQUISITION} {requisition_id}")
    return rows[0]


def approve_purchase_requisition(
    call: ActionCall, registry: ActionRegistry | None = None
) -> JsonValue:
    """Move a requisition through ``wait`` and ``approve``; already approved is success.

    Input: ``requisition_id``. Tryton processes an approved requisition into purchase
    requests right away, so the returned state may already be ``processing``.
    """
    requisition_id = _requisition_id(call.input)
    with _connect(call, registry) as client:
        row = _read_state(client, requisition_id)
        if row["state"] == "draft":
            client.execute(REQUISITION, "wait", [requisition_id])
            row = _read_state(client, requisition_id)
        if row["state"] == "waiting":
            client.execute(REQUISITION, "approve", [requisition_id])
            row = _read_state(client, requisition_id)
        if row["state"] not in {"approved", "processing", "done"}:
            raise _bad(f"{REQUISITION} {row.get('number')} is {row['state']}; cannot approve it")
        return _summary(row)


_HEADER_FIELDS: Final = (
    "number",
    "state",
    "description",
    "supply_date",
    "total_amount",
    "currency.code",
    "employee.rec_name",
    "approved_by.rec_name",
    "lines",
)
_LINE_FIELDS: Final = (
    "product.code",
    "description",
    "quantity",
    "unit.symbol",
    "unit_price",
    "supplier.rec_name",
)


def _related(row: JsonObject, name: str) -> JsonValue:
    """``a.b`` from a Tryton read, which nests related values under ``a.``."""
    head, _, tail = name.partition(".")
    nested = row.get(f"{head}.")
    return nested.get(tail) if isinstance(nested, dict) else None


def read_purchase_requisition(
    call: ActionCall, registry: ActionRegistry | None = None
) -> JsonValue:
    """Input: ``requisition_id``. Returns its header and lines as Tryton has them now."""
    requisition_id = _requisition_id(call.input)
    with _connect(call, registry) as client:
        rows = client.read(REQUISITION, [requisition_id], _HEADER_FIELDS)
        if not rows:
            raise _bad(f"Tryton has no {REQUISITION} {requisition_id}")
        row = rows[0]
        ids = row.get("lines")
        line_ids = [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []
        lines = client.read(f"{REQUISITION}.line", line_ids, _LINE_FIELDS) if line_ids else []
    lines.sort(key=lambda line: line_ids.index(int(str(line["id"]))))
    result = _summary(row)
    for name in _HEADER_FIELDS[2:-1]:
        result[name.partition(".")[0]] = _related(row, name) if "." in name else row.get(name)
    result["lines"] = [
        {n.partition(".")[0]: _related(line, n) if "." in n else line.get(n) for n in _LINE_FIELDS}
        for line in lines
    ]
    return result


def register(registry: ActionRegistry) -> None:
    """The three actions, each sending through the run's tenant's egress client."""
    actions = {
        "tryton.create_purchase_requisition": create_purchase_requisition,
        "tryton.approve_purchase_requisition": approve_purchase_requisition,
        "tryton.read_purchase_requisition": read_purchase_requisition,
    }
    for name, action in actions.items():
        registry.register(name, functools.partial(action, registry=registry))
