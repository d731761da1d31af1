"""Plant calendars and keyed randomness: everything the simulation samples is reproducible.

Every random number is drawn from a generator seeded by the demo seed plus a stable
business key (an NCR's serial, a task's step and role...), never from a shared stream, so
the outcome of one case does not depend on the order in which others happened to be seen.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from andon.tools.demo.data import ABSENCES, Plant

T = TypeVar("T")
OPEN = time(8, 0)
CLOSE = time(17, 0)


def keyed(seed: int, *parts: object) -> random.Random:
    """A generator that depends only on ``seed`` and ``parts``."""
    return random.Random("|".join([str(seed), *map(str, parts)]))


def unit(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) that depends only on ``seed`` and ``parts``."""
    digest = hashlib.sha256("|".join([str(seed), *map(str, parts)]).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(sigma * rng.gauss(0.0, 1.0))


def poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def weighted(rng: random.Random, choices: Sequence[tuple[T, float]]) -> T:
    total = sum(w for _, w in choices)
    point = rng.random() * total
    for value, weight in choices:
        point -= weight
        if point < 0:
            return value
    return choices[-1][0]


class Calendar:
    """Business hours (08:00-17:00 local, Mon-Fri, no holidays) of one person at a plant."""

    def __init__(self, plant: Plant, role: str = "", deputy: bool = False) -> None:
        self.offset = timedelta(hours=plant.utc_offset_h)
        away: set[date] = set(plant.holidays)
        if not deputy:
            for absence in ABSENCES:
                if absence.plant == plant.code and absence.role == role:
                    day = absence.first
                    while day <= absence.last:
                        away.add(day)
                        day += timedelta(days=1)
        self.away = frozenset(away)

    def working(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.away

    def add(self, start: datetime, hours: float) -> datetime:
        """The instant ``hours`` business hours after ``start``."""
        local = (start + self.offset).replace(tzinfo=None)
        remaining = timedelta(hours=max(hours, 0.0))
        for _ in range(400):
            local = self._open_at_or_after(local)
            closing = datetime.combine(local.date(), CLOSE)
            if remaining <= closing - local:
                return (local + remaining - self.offset).replace(tzinfo=UTC)
            remaining -= closing - local
            local = datetime.combine(local.date() + timedelta(days=1), OPEN)
        raise RuntimeError("calendar ran past 400 days")

    def next_open(self, start: datetime) -> datetime:
        """``start`` if it falls in business hours, else the next opening."""
        return self.add(start, 0.0)

    def _open_at_or_after(self, local: datetime) -> datetime:
        for _ in range(400):
            if self.working(local.date()) and local.time() < CLOSE:
                return max(local, datetime.combine(local.date(), OPEN))
            local = datetime.combine(local.date() + timedelta(days=1), OPEN)
        raise RuntimeError("no working day within 400 days")

    def working_days(self, first: datetime, days: int) -> list[date]:
        """Working days among the ``days`` calendar days from ``first`` (local dates)."""
        start = (first + self.offset).date()
        candidates = (start + timedelta(days=i) for i in range(days))
        return [d for d in candidates if self.working(d)]

    def at(self, day: date, hours: float) -> datetime:
        """UTC instant of ``hours`` past local midnight on ``day``."""
        local = datetime.combine(day, time()) + timedelta(hours=hours)
        return (local - self.offset).replace(tzinfo=UTC)
