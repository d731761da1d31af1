"""A database for the UI tests: the reference supplier-NCR template (with the DE-STR
overlay) and the batch-release template (e-signed, with segregation of duties), people with
passwords at DE-STR, one NCR run and one batch run waiting for approvers, and a second
tenant whose user must see none of it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from andon import bootstrap, testing
from andon.governance import authz
from andon.runtime.clock import Clock
from andon.runtime.service import StartRequest, TaskDecision

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
PLANT = "DE-STR"
TENANT_B = "acme-b"
NCR = testing.ncr_input()
BATCH = {
    "batch": "B-IE-0311",
    "product": "FG-MTF-500-30",
    "quantity": 48000,
    "exceptions": 2,
    "oos_open": 0,
    "deviations_open": 0,
    "change_controls_open": 0,
}
# u-ps holds PS and QA: it may sign the production review, and is then refused the QA
# review of the same batch (conflicting roles PS/QA).
PEOPLE = (
    ("u-qi", "Ines Quast", ("QI",)),
    ("u-qe", "Quentin Engel", ("QE",)),
    ("u-ps", "Paula Schmid", ("PS", "QA")),
    ("u-qc", "Carla Conti", ("QC",)),
)
ACTIONS = (
    "qms.record_ncr", "erp.block_lot", "erp.execute_disposition", "supplier.issue_scar",
    "notify.escalate", "erp.quarantine_lot", "erp.release_lot",
)  # fmt: skip


# supplier-ncr@2 renames these steps: a run at "mrb" moves with a mapping, one at
# "await_scar" without one is refused.
RENAMED = {"mrb": "mrb_board", "await_scar": "await_response"}
OWNER = "u-po"
AUDITOR = "u-au"
"""Reads every template, may not migrate runs."""


@dataclass(frozen=True)
class World:
    app: bootstrap.App
    ncr_run: str
    batch_run: str
    b_run: str


@dataclass(frozen=True)
class Migratable:
    """supplier-ncr@2 published; runs of version 1 waiting at "mrb" and one at "await_scar"."""

    at_mrb: tuple[str, ...]
    at_scar: str


def build(tmp_path: Path, clock: Clock | None = None) -> World:
    app = bootstrap.build(testing.settings(tmp_path), clock=clock)
    for name in ACTIONS:
        app.actions.register(name, lambda call: {"done": call.idempotency_key})
    admin = app.actor()
    service = app.service
    for event_type in ("quality.ncr_opened", "supplier.scar_response_received", "batch.completed"):
        schema = json.loads((ROOT / "templates" / "contracts" / f"{event_type}.json").read_text())
        service.register_contract(admin, event_type, schema)
    for name in ("supplier-ncr", "batch-release"):
        service.publish_template(admin, (ROOT / "templates" / f"{name}.yaml").read_text(), name)
    overlay = ROOT / "templates" / "overlays" / f"supplier-ncr.{PLANT}.yaml"
    service.publish_overlay(admin, overlay.read_text(), overlay.name)
    app.directory.create_site(admin, PLANT, "Stuttgart")
    for user, name, roles in PEOPLE:
        app.directory.create_user(admin, user, name, password=PASSWORD)
        for role in roles:
            app.directory.grant(admin, user, role, PLANT)
    ncr_run = service.start_run(app.actor("u-qi"), StartRequest("supplier-ncr", NCR, PLANT))
    batch_run = service.start_run(admin, StartRequest("batch-release", BATCH, PLANT))

    app.directory.create_tenant(TENANT_B, "ACME B")
    admin_b = app.actor(f"admin@{TENANT_B}", TENANT_B)
    app.directory.create_user(admin_b, "u-b", "Bea B", password=PASSWORD)
    app.directory.grant(admin_b, "u-b", "QE")
    app.directory.create_user(admin_b, "owner-b", "Process owner B")
    app.directory.grant(admin_b, "owner-b", authz.PROCESS_OWNER)
    owner_b = app.actor("owner-b", TENANT_B)
    tiny = "id: tiny\nversion: 1\nroles: [QE]\nsteps:\n  - {id: ok, kind: approval, roles: [QE]}\n"
    service.publish_template(owner_b, tiny, "tiny")
    b_run = service.start_run(owner_b, StartRequest("tiny", {}, ""))
    testing.drain(app)
    return World(app, ncr_run, batch_run, b_run)


def ncr_v2() -> str:
    source = (ROOT / "templates" / "supplier-ncr.yaml").read_text()
    source = source.replace("version: 1", "version: 2", 1)
    for old, new in RENAMED.items():
        source = re.sub(rf"\b{old}\b", new, source)  # not extra_mrb_roles, await_scar_final
    return source


def migratable(world: World) -> Migratable:
    """Two more NCRs start at DE-STR, QE and PS approve one of them past the MRB, and a
    process owner ``OWNER`` (who may migrate runs) publishes supplier-ncr@2. ``AUDITOR``
    signs in too."""
    app = world.app
    admin = app.actor()
    for user, name, role in ((OWNER, "Pia Owner", authz.PROCESS_OWNER),
                             (AUDITOR, "Ada Auditor", authz.AUDITOR)):  # fmt: skip
        app.directory.create_user(admin, user, name, password=PASSWORD)
        app.directory.grant(admin, user, role)
    starter = app.actor("u-qi")
    more = [
        app.service.start_run(starter, StartRequest("supplier-ncr", {**NCR, "ncr_id": ncr}, PLANT))
        for ncr in ("NCR-DE-00872", "NCR-DE-00873")
    ]
    testing.drain(app)
    for user in ("u-qe", "u-ps"):
        task = next(t for t in app.service.tasks(admin) if t.run_id == more[1])
        app.service.decide_task(app.actor(user), TaskDecision(task.task_id))
    testing.drain(app)
    assert app.service.run(admin, more[1]).state["active"] == ["await_scar"]
    app.service.publish_template(app.actor(OWNER), ncr_v2(), "supplier-ncr.v2.yaml")
    return Migratable((world.ncr_run, more[0]), more[1])
