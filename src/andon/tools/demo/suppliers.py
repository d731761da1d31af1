"""Simulated suppliers answering SCARs: some promptly, some late, some only when chased."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from andon.core.json import JsonObject
from andon.tools.demo.calendar import Calendar, keyed, lognormal
from andon.tools.demo.data import CUTOFF, RESUBMIT_8D_BH, SUPPLIERS
from andon.tools.demo.generate import Case

RESPONSE = 1

ROOT_CAUSES: tuple[str, ...] = (
    "die-casting cavity vent blocked (occurrence); porosity X-ray skipped on night shift (escape)",
    "worn gauge not in calibration plan (occurrence); final audit sampled too few parts (escape)",
    "raw material batch mix-up at the supplier's warehouse (occurrence); no label scan (escape)",
    "drying hopper set-point changed without approval (occurrence); moisture not tested (escape)",
    "CoA generated from a template, not from LIMS results (occurrence); no CoA review (escape)",
    "sealing-tool temperature drift (occurrence); SPC alarm limits too wide (escape)",
)


class Suppliers:
    def __init__(self, seed: int, schedule: Callable[[float, int, str], None]) -> None:
        self.seed = seed
        self._schedule = schedule
        self._planned: dict[str, float] = {}
        self._rounds: dict[str, int] = {}
        self._cases: dict[str, Case] = {}

    def issued(self, case: Case, now: datetime) -> None:
        """A SCAR reached the supplier: when (if ever) will its 8D response come?"""
        if case.key in self._cases:
            return  # a retried attempt of the same SCAR
        self._cases[case.key] = case
        supplier = SUPPLIERS[case.supplier]
        rng = keyed(self.seed, case.key, "scar")
        days = lognormal(rng, supplier.scar_days, supplier.scar_sigma)
        self._plan(case, Calendar(case.plant).next_open(now + timedelta(days=days)))

    def escalated(self, case: Case, now: datetime) -> None:
        """The SQE manager chased the supplier; a responsive supplier hurries up."""
        supplier = SUPPLIERS[case.supplier]
        rng = keyed(self.seed, case.key, "chased", self._rounds.get(case.key, 0))
        if rng.random() < supplier.hurry:
            at = Calendar(case.plant).add(now, lognormal(rng, 20.0, 0.6))
            planned = self._planned.get(case.key)
            if planned is None or at.timestamp() < planned:
                self._plan(case, at)

    def resubmit(self, case: Case, now: datetime) -> None:
        """The SQE rejected the 8D; the supplier reworks and sends it again."""
        self._rounds[case.key] = self._rounds.get(case.key, 0) + 1
        rng = keyed(self.seed, case.key, "resubmit", self._rounds[case.key])
        self._plan(case, Calendar(case.plant).add(now, lognormal(rng, RESUBMIT_8D_BH, 0.5)))

    def take(self, key: str, at: float) -> tuple[Case, JsonObject] | None:
        """The response planned for the case ``key`` if it is still due at ``at``."""
        if self._planned.get(key) != at:
            return None
        del self._planned[key]
        case = self._cases[key]
        rng = keyed(self.seed, case.key, "8d", self._rounds.get(key, 0))
        data: JsonObject = {
            "ncr_id": case.document_id,
            "supplier": case.supplier,
            "report": "8D",
            "disciplines": ["D3", "D4", "D5"],
            "root_cause": rng.choice(ROOT_CAUSES),
            "containment": "suspect stock sorted at source; certified lots marked",
            "revision": self._rounds.get(key, 0) + 1,
        }
        return case, data

    def _plan(self, case: Case, at: datetime) -> None:
        if at > CUTOFF:
            self._planned.pop(case.key, None)
            return
        self._planned[case.key] = at.timestamp()
        self._schedule(at.timestamp(), RESPONSE, case.key)
