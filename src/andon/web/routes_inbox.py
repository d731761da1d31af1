"""The inbox: my open tasks, one task, and deciding it (in place with htmx; signed steps
through the signature dialog). Decisions go through ``Andon.decide_task`` like the API's."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from andon.errors import AndonError, AuthenticationError, GovernanceError, InputError
from andon.governance import duties
from andon.runtime.service import Credentials, TaskDecision
from andon.web import inbox
from andon.web.render import HEADERS, UiRoute, html, is_htmx
from andon.web.session import Andon, Posted, Session

router = APIRouter(prefix="/ui", route_class=UiRoute)
SOD_RULES = frozenset(
    {duties.INITIATOR, duties.DISTINCT, duties.OWN_DELEGATION, duties.CONFLICTING_ROLES,
     duties.SEPARATE_STEPS, duties.NO_MACHINE_SIGNATURE}
)  # fmt: skip
RULE_SUFFIX = re.compile(r"^(?P<message>.*) \[(?P<rule>[a-z-]+)\]$", re.DOTALL)
RULE_NAMES = {
    duties.INITIATOR: "The person who started a run may not approve it",
    duties.DISTINCT: "A quorum needs distinct people",
    duties.OWN_DELEGATION: "No approving through the initiator's delegation",
    duties.CONFLICTING_ROLES: "One person may not act in conflicting roles on one run",
    duties.SEPARATE_STEPS: "Whoever acted on an earlier step may not act on this one",
    duties.NO_MACHINE_SIGNATURE: "Service and administrative accounts may not sign",
}


@router.get("/inbox")
def inbox_page(request: Request, andon: Andon, who: Session, site: str = "") -> Response:
    cards = inbox.cards(andon, who.actor, site)
    sites = sorted({g.site for g in who.actor.grants if g.site} | {c.task.plant for c in cards})
    context = {"title": "Inbox", "cards": cards, "site": site, "sites": sites}
    return html(request, "inbox.html", context)


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: str, andon: Andon, who: Session) -> Response:
    card = inbox.card(andon, who.actor, task_id)
    return html(request, "task.html", {"title": card.task.title or card.task.step, "card": card})


@router.post("/tasks/{task_id}/decision")
def decide(
    request: Request,
    task_id: str,
    andon: Andon,
    who: Posted,
    outcome: Annotated[str, Form(max_length=100)] = "approve",
    comment: Annotated[str, Form(max_length=4000)] = "",
    password: Annotated[str | None, Form(max_length=1000)] = None,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Record my decision; a refusal is shown where it happened (the card or the dialog)."""
    credentials = Credentials(password, reason) if password else None
    decision = TaskDecision(task_id, outcome, comment.strip(), "", credentials)
    try:
        andon.service.decide_task(who.actor, decision)
    except (GovernanceError, InputError, AuthenticationError) as exc:
        return _refused(request, andon, who, task_id, exc, signing=credentials is not None)
    except AndonError as exc:  # closed meanwhile, not found, ...
        card = inbox.card(andon, who.actor, task_id)
        return _card(request, card, {"kind": "error", "text": str(exc)}, 409)
    card = inbox.card(andon, who.actor, task_id)
    if not is_htmx(request):
        return RedirectResponse(f"/ui/tasks/{quote(task_id, safe='')}", 303, headers=HEADERS)
    signed = " with your e-signature" if credentials else ""
    text = f"Recorded: {outcome}{signed}. The run is {card.run.status}."
    return _card(request, card, {"kind": "ok", "text": text}, 200)


def _refused(
    request: Request,
    andon: Andon,
    who: Posted,
    task_id: str,
    exc: AndonError,
    *,
    signing: bool,
) -> Response:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    found = RULE_SUFFIX.match(text)
    card = inbox.card(andon, who.actor, task_id)
    if found and found["rule"] in SOD_RULES:
        notice = {
            "kind": "refusal",
            "rule": found["rule"],
            "rule_name": RULE_NAMES.get(found["rule"], found["rule"]),
            "text": found["message"],
        }
        return _card(request, card, notice, 403)
    status = 422 if isinstance(exc, InputError) else 403
    if signing and is_htmx(request):
        # Keep the signature dialog open and say what was wrong inside it.
        target = f"#{card.dom_id}-sign-error"
        return html(request, "_message.html", {"kind": "error", "detail": text}, status=status,
                    headers={"HX-Retarget": target, "HX-Reswap": "innerHTML"})  # fmt: skip
    return _card(request, card, {"kind": "error", "text": text}, status)


def _card(request: Request, card: inbox.Card, notice: dict[str, str], status: int) -> Response:
    if is_htmx(request):
        return html(request, "_task.html", {"card": card, "notice": notice}, status=status)
    context = {"title": card.task.title or card.task.step, "card": card, "notice": notice}
    return html(request, "task.html", context, status=status)
