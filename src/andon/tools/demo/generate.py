"""What the plants produce: supplier NCRs at receiving inspection and purchase requisitions."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from andon.core.json import JsonObject
from andon.tools.demo.calendar import Calendar, keyed, lognormal, poisson, weighted
from andon.tools.demo.data import (
    ARRIVAL_DAYS,
    CATEGORIES,
    DISPOSITIONS,
    PLANTS,
    PR_MEDIAN,
    PR_SIGMA,
    SEVERITY,
    START,
    Plant,
)

NCR = "supplier-ncr"
PR = "purchase-requisition"


@dataclass(frozen=True, slots=True)
class Case:
    """One business document the simulated plant raises; ``key`` is stable across runs."""

    key: str
    template_id: str
    plant: Plant
    arrives: datetime
    input: JsonObject
    supplier: str = ""

    @property
    def document_id(self) -> str:
        return str(self.input.get("ncr_id") or self.input.get("pr_id") or self.key)


def generate(
    seed: int, templates: frozenset[str], serial_base: int, start: datetime = START
) -> list[Case]:
    """Every case of the demo, in arrival order (ties broken by key).

    ``serial_base`` only shifts the visible document numbers, so that a second demo in the
    same database does not reuse NCR numbers (they are event correlation keys). Documents
    arrive on the working days from ``start`` (a Monday morning).
    """
    cases: list[Case] = []
    for plant in PLANTS:
        if NCR in templates:
            cases.extend(_ncrs(seed, plant, serial_base, start))
        if PR in templates:
            cases.extend(_prs(seed, plant, serial_base, start))
    return sorted(cases, key=lambda c: (c.arrives, c.key))


def _arrival_times(
    seed: int, plant: Plant, kind: str, rate: float, hours: tuple[float, float], start: datetime
) -> list[datetime]:
    calendar = Calendar(plant)
    out: list[datetime] = []
    for day in calendar.working_days(start, ARRIVAL_DAYS):
        rng = keyed(seed, "arrivals", plant.code, kind, day.isoformat())
        for _ in range(poisson(rng, rate)):
            at = calendar.at(day, rng.uniform(*hours))
            out.append(_quarter_hour(at))
    return sorted(out)


def _quarter_hour(at: datetime) -> datetime:
    """Intake connectors poll every 15 minutes, so documents arrive in small batches."""
    extra = (-at.minute) % 15
    return (at + timedelta(minutes=extra)).replace(second=0, microsecond=0)


def _ncrs(seed: int, plant: Plant, serial_base: int, start: datetime) -> list[Case]:
    times = _arrival_times(seed, plant, "ncr", plant.ncr_per_day, (6.0, 21.5), start)
    out = []
    for index, at in enumerate(times, start=1):
        key = f"ncr/{plant.code}/{index:03d}"
        rng = keyed(seed, key)
        part = rng.choice(plant.parts)
        defect = rng.choice(part.defects)
        disposition = weighted(rng, DISPOSITIONS[defect.split("-")[0]])
        qty = _rejected_qty(rng, part.lot_size, disposition)
        value = round(qty * part.unit_cost, 2)
        ncr_id = f"NCR-{plant.short}-{870 + serial_base + index:05d}"
        lot = f"L{at:%y%m}-{rng.randrange(1, 400):04d}"
        data: JsonObject = {
            "ncr_id": ncr_id,
            "part": part.number,
            "lot": lot,
            "supplier": part.supplier,
            "qty_rejected": qty,
            "value": {"amount": value, "currency": plant.currency},
            "disposition": disposition,
            "severity": SEVERITY[defect],
            "defect_code": defect,
        }
        out.append(Case(key, NCR, plant, at, data, part.supplier))
    return out


def _rejected_qty(rng: random.Random, lot_size: int, disposition: str) -> int:
    """Whole lots go back or to scrap; sorting and rework affect a part of one."""
    if disposition in ("rtv", "scrap") and rng.random() < 0.6:
        lots = weighted(rng, ((1, 0.8), (2, 0.14), (3, 0.06)))
        return lot_size * lots
    share = min(1.0, lognormal(rng, 0.05, 1.0))
    return max(1, round(lot_size * share))


def _prs(seed: int, plant: Plant, serial_base: int, start: datetime) -> list[Case]:
    times = _arrival_times(seed, plant, "pr", plant.pr_per_day, (7.5, 17.0), start)
    out = []
    for index, at in enumerate(times, start=1):
        key = f"pr/{plant.code}/{index:03d}"
        rng = keyed(seed, key)
        category, multiplier = _category(rng)
        amount = round(min(lognormal(rng, PR_MEDIAN, PR_SIGMA) * multiplier, 2_400_000.0), 2)
        amount = max(amount, 12.5)
        data: JsonObject = {
            "pr_id": f"PR-{plant.short}-{11000 + serial_base + index:05d}",
            "requester": rng.choice(plant.requesters),
            "cost_center": rng.choice(plant.cost_centers),
            "category": category,
            "total": {"amount": amount, "currency": plant.currency},
            "quotes": _quotes(rng, amount, plant.quotes_from),
            "need_by": _need_by(rng, at.date()),
        }
        out.append(Case(key, PR, plant, at, data))
    return out


def _category(rng: random.Random) -> tuple[str, float]:
    return weighted(rng, tuple(((name, mult), share) for name, share, mult in CATEGORIES))


def _quotes(rng: random.Random, amount: float, needed_from: float) -> int:
    if amount >= needed_from:
        return 3 if rng.random() < 0.8 else weighted(rng, ((1, 0.7), (2, 0.3)))
    return weighted(rng, ((0, 0.2), (1, 0.55), (2, 0.15), (3, 0.1)))


def _need_by(rng: random.Random, day: date) -> str:
    return (day + timedelta(days=rng.randrange(7, 43))).isoformat()
