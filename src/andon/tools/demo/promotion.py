"""A governed promotion in progress for the live demo (ADR 0034).

The shipped purchase requisition goes into production everywhere through an approved
``template-promotion`` run (Lena requests it, Tom signs as process owner, Quinn for QA).
Then Lena publishes a version 2 that accepts two quotes where three were needed, and
requests it for the Stuttgart pilot: that run waits for Tom's signature, with the semantic
diff and the dry run attached, so a visitor signs in as Tom and approves it in the inbox.
"""

from __future__ import annotations

import re

from andon.bootstrap import App
from andon.errors import InputError
from andon.runtime.promotions import PROMOTION_TEMPLATE
from andon.runtime.service import Credentials, TaskDecision
from andon.runtime.worker import WorkerSettings

TEMPLATE = "purchase-requisition"
PILOT = "DE-STR"
REQUESTER, OWNER, QA = "lena", "tom", "quinn"
THREE_QUOTES = "input.quotes < 3"
TWO_QUOTES = "input.quotes < 2"


def stage_promotion(app: App, password: str) -> str | None:
    """Leave a promotion of the requisition's next version for the pilot plant waiting
    for its first signature; returns its run id (None when an earlier demo on this
    database already did, or the shipped template no longer has the three-quote rule).
    The demo logins ``lena``, ``tom`` and ``quinn`` must exist, the latter two with
    ``password``."""
    admin = app.actor()
    with app.service.store.reader() as reader:
        scoped = reader.scoped(admin.tenant_id)
        staged = scoped.template(PROMOTION_TEMPLATE, None) is not None
        latest = scoped.template(TEMPLATE, None)
    if staged or latest is None or latest.version != 1 or THREE_QUOTES not in latest.source:
        return None
    source = latest.source
    lena = app.actor(REQUESTER)
    app.lifecycle.put_in_force(lena, TEMPLATE, 1, "test", reason="the demo plants run it")
    first = app.promotions.request(lena, TEMPLATE, 1, "production", reason="go live everywhere")
    _sign(app, first, "owner_approval", OWNER, password)
    _sign(app, first, "qa_approval", QA, password)
    worker = app.worker(WorkerSettings(threads=1))
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()
    if app.service.run(admin, first).outcome != "promoted":
        raise InputError(f"the demo's first promotion (run {first}) did not complete")
    second = re.sub(r"(?m)^version: 1$", "version: 2", source, count=1)
    second = second.replace(THREE_QUOTES, TWO_QUOTES)
    app.service.publish_template(lena, second, f"{TEMPLATE}.v2 (demo)")
    app.lifecycle.put_in_force(lena, TEMPLATE, 2, "test", [PILOT], reason="buyers asked for it")
    return app.promotions.request(
        lena, TEMPLATE, 2, "production", [PILOT],
        reason="accept two quotes below the tender limit: pilot at Stuttgart",
    )  # fmt: skip


def _sign(app: App, run_id: str, step: str, user: str, password: str) -> None:
    decision = TaskDecision(
        f"{run_id}:{step}:1", credentials=Credentials(password, "diff and dry run reviewed")
    )
    app.service.decide_task(app.actor(user), decision)
