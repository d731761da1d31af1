"""Simulated plant systems (QMS, ERP, supplier portal, notifications) as Andon actions.

Whether an attempt fails is a pure function of the seed, the case's stable key, the step
and the attempt number, so a replay of the same attempt fails or succeeds the same way.
The retry jitter the worker draws after a failure is keyed the same way (``draw``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core.json import JsonObject, JsonValue
from andon.errors import ActionError
from andon.runtime.clock import Clock
from andon.tools.demo.calendar import unit
from andon.tools.demo.data import ERP_ACTIONS, FAILURE_RATES, OUTAGES, TRANSIENT_ERRORS
from andon.tools.demo.generate import Case


class Plant(Protocol):
    """What the actions tell the rest of the simulation."""

    def case_of(self, run_id: str) -> Case | None: ...
    def scar_issued(self, case: Case, now: datetime) -> None: ...
    def scar_escalated(self, case: Case, now: datetime) -> None: ...


class _Detached:
    """The plant before a simulation attaches: every run is one this demo did not start."""

    def case_of(self, run_id: str) -> Case | None:
        return None

    def scar_issued(self, case: Case, now: datetime) -> None:
        pass

    def scar_escalated(self, case: Case, now: datetime) -> None:
        pass


class DemoActions:
    """Registered before the reference templates are published, since publishing refuses
    action names nobody registers (ADR 0030); the simulation then sets itself as ``plant``."""

    def __init__(self, seed: int, clock: Clock, plant: Plant | None = None) -> None:
        self.seed = seed
        self.clock = clock
        self.plant: Plant = plant or _Detached()
        self._last_failure = ""
        self.calls = 0

    def register(self, registry: ActionRegistry) -> None:
        handlers: dict[str, Callable[[Case, ActionCall], JsonObject]] = {
            "qms.record_ncr": self._record_ncr,
            "erp.block_lot": self._block_lot,
            "erp.execute_disposition": self._execute_disposition,
            "supplier.issue_scar": self._issue_scar,
            "notify.escalate": self._escalate,
            "purchase.check_budget": self._check_budget,
            "erp.create_purchase_order": self._create_po,
            # Named by the other reference templates, which the demo publishes but never
            # starts; a run someone starts by hand gets the simulated answer.
            "erp.quarantine_lot": self._untouched,
            "erp.release_lot": self._untouched,
            "cmms.create_work_order": self._untouched,
        }
        for name, handler in handlers.items():
            registry.register(name, self._wrap(name, handler))

    def draw(self) -> float:
        """Retry jitter for the failure that was just reported, keyed like the failure."""
        return unit(self.seed, "jitter", self._last_failure)

    def _wrap(
        self, name: str, handler: Callable[[Case, ActionCall], JsonObject]
    ) -> Callable[[ActionCall], JsonValue]:
        def action(call: ActionCall) -> JsonValue:
            self.calls += 1
            case = self.plant.case_of(call.run_id)
            if case is None:  # a run this demo did not start (e.g. left by an earlier one)
                return {"simulated": True}
            self._maybe_fail(name, case, call)
            return handler(case, call)

        return action

    def _maybe_fail(self, name: str, case: Case, call: ActionCall) -> None:
        key = f"{case.key}:{call.step}:{call.attempt}"
        now = self.clock.now()
        if name in ERP_ACTIONS:
            for outage in OUTAGES:
                if outage.plant == case.plant.code and outage.start <= now < outage.end:
                    self._last_failure = key
                    raise ActionError(outage.message)
        chance = unit(self.seed, "fail", key)
        if chance < FAILURE_RATES.get(name, 0.0):
            self._last_failure = key
            pick = int(unit(self.seed, "error", key) * len(TRANSIENT_ERRORS))
            raise ActionError(TRANSIENT_ERRORS[pick])

    def _untouched(self, case: Case, call: ActionCall) -> JsonObject:
        return {"simulated": True}

    def _number(self, case: Case, what: str, base: int, span: int) -> int:
        return base + int(unit(self.seed, what, case.key) * span)

    # ---- the systems -------------------------------------------------------------------

    def _record_ncr(self, case: Case, call: ActionCall) -> JsonObject:
        return {"qms_record": f"QN-{self._number(case, 'qms', 300000, 99999)}"}

    def _block_lot(self, case: Case, call: ActionCall) -> JsonObject:
        return {
            "lot": call.input.get("lot"),
            "status": "blocked",
            "location": f"{case.plant.code}.WH1.MRB",
        }

    def _execute_disposition(self, case: Case, call: ActionCall) -> JsonObject:
        disposition = str(call.input.get("disposition"))
        out: JsonObject = {"erp_document": f"MD-{self._number(case, 'md', 4900000000, 99999)}"}
        if disposition == "rtv":
            out["rma"] = f"RMA-{self._number(case, 'rma', 77000, 9999)}"
        if disposition == "use_as_is":
            out["concession_id"] = f"CON-{case.plant.short}-{self._number(case, 'con', 100, 899)}"
        return out

    def _issue_scar(self, case: Case, call: ActionCall) -> JsonObject:
        self.plant.scar_issued(case, self.clock.now())
        return {"scar_id": f"SCAR-{case.plant.short}-{self._number(case, 'scar', 4000, 999)}"}

    def _escalate(self, case: Case, call: ActionCall) -> JsonObject:
        self.plant.scar_escalated(case, self.clock.now())
        return {"notified": call.input.get("to"), "channel": "email"}

    def _check_budget(self, case: Case, call: ActionCall) -> JsonObject:
        return {"budget_check": "ok", "cost_center": call.input.get("cost_center")}

    def _create_po(self, case: Case, call: ActionCall) -> JsonObject:
        return {"po": f"PO-{self._number(case, 'po', 4500100000, 99999)}", "status": "created"}
