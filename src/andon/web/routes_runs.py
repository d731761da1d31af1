"""Runs: the list, and one run with its diagram, timeline, decisions, signatures and the
recomputed chain of its journal."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from andon.web import diagram, inbox, runview
from andon.web.render import UiRoute, html
from andon.web.session import Andon, Session

router = APIRouter(prefix="/ui", route_class=UiRoute)
STATUSES = ("created", "running", "incident", "completed", "cancelled")


@router.get("/runs")
def runs_page(
    request: Request, andon: Andon, who: Session, status: str = "", site: str = ""
) -> Response:
    wanted = status if status in STATUSES else None
    rows = andon.service.runs(who.actor, wanted, 200 if site else 100)
    sites = sorted(
        {g.site for g in who.actor.grants if g.site} | {r.plant for r in rows if r.plant}
    )
    if site:
        rows = [r for r in rows if r.plant == site][:100]
    context = {"title": "Runs", "runs": rows, "status": wanted or "", "statuses": STATUSES,
               "site": site, "sites": sites}  # fmt: skip
    return html(request, "runs.html", context)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, andon: Andon, who: Session) -> Response:
    run = andon.service.run(who.actor, run_id)
    rows = andon.service.journal(who.actor, run_id)
    template = inbox.pinned(andon, who.actor, run)
    states = diagram.step_states(template, run.state)
    svg = diagram.render(template, states, f"Flow of {template.ref} for run {run.run_id}")
    tasks = [t for t in andon.service.tasks(who.actor, "open", None, 10_000) if t.run_id == run_id]
    context = {
        "title": f"Run {run.run_id}",
        "run": run,
        "template": template,
        "svg": Markup(svg),  # built from escaped parts only (diagram.render)
        "current": [s for s, v in states.items() if v == "current"],
        "timeline": runview.timeline(rows),
        "decisions": runview.decisions(rows),
        "signatures": runview.signatures(rows),
        "violations": runview.violations(rows),
        "chain": runview.chain(who.actor.tenant_id, run, rows),
        "open_tasks": [(t, inbox.candidacy(who.actor, t)) for t in tasks],
        "inputs": inbox.context_items(run.state.get("input")),
    }
    return html(request, "run.html", context)
