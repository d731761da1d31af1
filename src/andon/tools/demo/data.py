"""The fictional ACME Motion & Health plants, parts, suppliers and people (DOMAIN.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
"""Monday morning in Stuttgart; every demo run starts its plant clock here."""
ARRIVAL_DAYS = 19
"""Documents arrive for ~3 weeks (Mon 2 Nov to Fri 20 Nov 2026); then the plants drain."""
CUTOFF = START + timedelta(days=75)
"""Hard end of the simulation: whatever still waits then is reported as open."""


@dataclass(frozen=True, slots=True)
class Part:
    number: str
    supplier: str
    uom: str
    unit_cost: float
    lot_size: int
    defects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plant:
    code: str
    short: str
    currency: str
    utc_offset_h: int
    """Standard-time offset; valid all of Nov-Jan (DST ended before the demo starts)."""
    holidays: frozenset[date]
    ncr_per_day: float
    pr_per_day: float
    quotes_from: float
    """Total from which policy asks for three quotes (DOMAIN §4.6, the overlays' threshold)."""
    parts: tuple[Part, ...]
    cost_centers: tuple[str, ...]
    requesters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Supplier:
    id: str
    name: str
    scar_days: float
    """Median calendar days until the supplier sends its SCAR/8D response."""
    scar_sigma: float
    hurry: float
    """Chance the supplier answers within a few days once the SQE manager escalates."""
    bad_8d: float
    """Chance the SQE rejects the supplier's 8D and asks for a better one."""


@dataclass(frozen=True, slots=True)
class RoleHabit:
    median_bh: float
    """Median business hours from task creation to this role's decision."""
    sigma: float
    reject: float


@dataclass(frozen=True, slots=True)
class Absence:
    plant: str
    role: str
    first: date
    last: date


@dataclass(frozen=True, slots=True)
class Outage:
    plant: str
    start: datetime
    end: datetime
    message: str


def _d(month: int, day: int) -> date:
    return date(2026 if month > 6 else 2027, month, day)


CHRISTMAS = frozenset({_d(12, 24), _d(12, 25), _d(12, 31), _d(1, 1)})

PLANTS: tuple[Plant, ...] = (
    Plant(
        "DE-STR",
        "DE",
        "EUR",
        1,
        CHRISTMAS | {_d(12, 26)},
        1.0,
        2.6,
        10000.0,
        (
            Part("RC-4711-CAST", "S-1003", "C62", 23.10, 1200, ("SUR-002", "DIM-001", "SUR-004")),
            Part("PS-2210", "S-1010", "C62", 4.20, 4000, ("DIM-001", "MAT-002", "DOC-001")),
            Part("SL-0090", "S-1022", "C62", 0.35, 10000, ("DIM-002", "DOC-001", "PKG-001")),
            Part("BLT-M10-109", "S-1031", "C62", 0.12, 20000, ("DIM-003", "MAT-002", "SUR-004")),
        ),
        ("4410", "4420", "4510", "4630"),
        ("u-1101", "u-1102", "u-1107", "u-1115", "u-1121"),
    ),
    Plant(
        "US-GRR",
        "US",
        "USD",
        -5,
        CHRISTMAS | {_d(11, 26), _d(11, 27)},
        0.7,
        2.4,
        10000.0,
        (
            Part("RES-PA66GF30", "S-2001", "KGM", 3.40, 5000, ("MAT-003", "DOC-001", "CNT-001")),
            Part("BLT-M10-109", "S-1031", "C62", 0.14, 20000, ("DIM-003", "SUR-004", "PKG-002")),
        ),
        ("7410", "7420", "7530"),
        ("u-7001", "u-7004", "u-7012", "u-7019"),
    ),
    Plant(
        "IE-COR",
        "IE",
        "EUR",
        0,
        CHRISTMAS | {_d(12, 26)},
        0.45,
        1.5,
        5000.0,
        (
            Part("API-MTF", "S-5001", "KGM", 38.0, 500, ("PHA-001", "DOC-001", "CNT-001")),
            Part("EXC-MCC102", "S-5004", "KGM", 6.0, 2000, ("DOC-001", "PHA-003", "PKG-001")),
            Part("PKG-ALU-20", "S-6001", "MTR", 0.9, 20000, ("PHA-004", "SUR-001", "DOC-002")),
        ),
        ("9110", "9120", "9300"),
        ("u-9031", "u-9044", "u-9052"),
    ),
)

SUPPLIERS: dict[str, Supplier] = {
    s.id: s
    for s in (
        Supplier("S-1003", "Alucast Sp. z o.o.", 9.0, 0.45, 0.5, 0.35),
        Supplier("S-1010", "Kolbenwerk Neckar GmbH", 4.0, 0.35, 0.9, 0.08),
        Supplier("S-1022", "Elastotec S.r.l.", 6.5, 0.45, 0.6, 0.15),
        Supplier("S-1031", "Great Lakes Fastener Co.", 5.0, 0.4, 0.8, 0.1),
        Supplier("S-2001", "PolyResin Americas LLC", 7.0, 0.5, 0.6, 0.15),
        Supplier("S-5001", "Deccan API Labs Pvt Ltd", 8.5, 0.45, 0.5, 0.2),
        Supplier("S-5004", "Cellulose Excipients GmbH", 4.5, 0.35, 0.9, 0.05),
        Supplier("S-6001", "Nordic Foil AB", 6.0, 0.4, 0.7, 0.1),
    )
}

SEVERITY: dict[str, str] = {
    "DIM-001": "M",
    "DIM-002": "M",
    "DIM-003": "C",
    "SUR-001": "m",
    "SUR-002": "M",
    "SUR-004": "M",
    "MAT-002": "M",
    "MAT-003": "M",
    "DOC-001": "M",
    "DOC-002": "M",
    "PKG-001": "m",
    "PKG-002": "m",
    "CNT-001": "C",
    "PHA-001": "C",
    "PHA-003": "M",
    "PHA-004": "C",
}

DISPOSITIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "DIM": (("rework", 0.3), ("rtv", 0.4), ("use_as_is", 0.2), ("scrap", 0.1)),
    "SUR": (("scrap", 0.35), ("rtv", 0.45), ("rework", 0.1), ("use_as_is", 0.1)),
    "MAT": (("rtv", 0.6), ("scrap", 0.3), ("use_as_is", 0.1)),
    "DOC": (("use_as_is", 0.7), ("rtv", 0.3)),
    "PKG": (("use_as_is", 0.5), ("rework", 0.3), ("rtv", 0.2)),
    "CNT": (("scrap", 0.5), ("rtv", 0.5)),
    "PHA": (("rtv", 0.6), ("scrap", 0.4)),
}

CATEGORIES: tuple[tuple[str, float, float], ...] = (
    # category, share, value multiplier on the lognormal PR value
    ("mro", 0.34, 1.0),
    ("indirect", 0.24, 0.7),
    ("direct", 0.16, 1.3),
    ("it", 0.10, 1.2),
    ("chemicals", 0.08, 1.0),
    ("capex", 0.08, 6.0),
)
PR_MEDIAN = 780.0
PR_SIGMA = 2.0
"""Lognormal PR value: median ~900 local currency, p90 ~12k, ~1% above 100k (DOMAIN §4.7)."""

HABITS: dict[str, RoleHabit] = {
    "QE": RoleHabit(6.0, 0.8, 0.01),
    "PS": RoleHabit(8.0, 0.8, 0.01),
    "FC": RoleHabit(8.0, 0.9, 0.03),
    "PM": RoleHabit(10.0, 0.9, 0.03),
    "SQE": RoleHabit(6.0, 0.7, 0.01),
    "BU": RoleHabit(5.0, 0.7, 0.01),
    "PUM": RoleHabit(9.0, 0.8, 0.02),
    "ME": RoleHabit(7.0, 0.8, 0.01),
    "DE": RoleHabit(12.0, 0.9, 0.02),
    "QAM": RoleHabit(8.0, 0.8, 0.02),
    "QA": RoleHabit(10.0, 0.8, 0.02),
    "CCM": RoleHabit(5.0, 0.8, 0.04),
    "DH": RoleHabit(6.0, 0.8, 0.05),
    "VP": RoleHabit(12.0, 0.9, 0.06),
    "CFO": RoleHabit(16.0, 0.8, 0.08),
}
DEFAULT_HABIT = RoleHabit(8.0, 0.9, 0.02)
ESCALATED_HABIT = RoleHabit(3.0, 0.6, 0.0)
"""How fast someone acts once a task was escalated to them (or their deputy steps in)."""
REVIEW_8D_HABIT = RoleHabit(8.0, 0.6, 0.0)
RESUBMIT_8D_BH = 24.0
OPERATOR_BH = 1.5
"""Median business hours until the operations desk retries a run stuck in an incident."""

ABSENCES: tuple[Absence, ...] = (
    Absence("DE-STR", "CCM", _d(11, 9), _d(11, 13)),
    Absence("US-GRR", "PS", _d(11, 16), _d(11, 20)),
    Absence("IE-COR", "QA", _d(11, 23), _d(11, 27)),
    Absence("US-GRR", "DH", _d(11, 23), _d(11, 25)),
)

OUTAGES: tuple[Outage, ...] = (
    Outage(
        "US-GRR",
        datetime(2026, 11, 10, 18, 30, tzinfo=UTC),
        datetime(2026, 11, 10, 22, 0, tzinfo=UTC),
        "ERP gateway: HTTP 503 Service Unavailable (planned maintenance overran)",
    ),
    Outage(
        "DE-STR",
        datetime(2026, 11, 17, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 17, 11, 0, tzinfo=UTC),
        "ERP: connection refused by SAP application server",
    ),
)

TRANSIENT_ERRORS: tuple[str, ...] = (
    "ERP gateway: HTTP 503 Service Unavailable",
    "ERP: lock wait timeout on material document",
    "connection reset by peer",
    "ERP: RFC call timed out after 20 s",
)
FAILURE_RATES: dict[str, float] = {
    "erp.block_lot": 0.08,
    "erp.execute_disposition": 0.10,
    "erp.create_purchase_order": 0.10,
    "purchase.check_budget": 0.05,
    "qms.record_ncr": 0.03,
    "supplier.issue_scar": 0.03,
    "notify.escalate": 0.0,
}
ERP_ACTIONS = frozenset(
    {
        "erp.block_lot",
        "erp.execute_disposition",
        "erp.create_purchase_order",
        "purchase.check_budget",
    }
)


def plant(code: str) -> Plant:
    for candidate in PLANTS:
        if candidate.code == code:
            return candidate
    raise KeyError(code)
