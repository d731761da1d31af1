"""Sessions and tokens, templates, events, audit and user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from andon.api.models import (
    EventIn,
    EventOut,
    EventsIn,
    EventsOut,
    GrantIn,
    Login,
    OverlayOut,
    TemplateDetail,
    TemplateOut,
    TemplateSource,
    TokenInfoOut,
    TokenOut,
    TokenRequest,
    UserIn,
    UserOut,
    ValidationOut,
    VerifyOut,
)
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer, bearer
from andon.bootstrap import App
from andon.core.loader import validate_text
from andon.governance.authz import Permission, require
from andon.governance.identity import Actor, PrincipalKind

router = APIRouter()


@router.post("/v1/session", response_model=TokenOut, status_code=201, tags=["auth"],
             responses=responses(401, 422, 429))  # fmt: skip
def login(body: Login, andon: Andon, request: Request) -> TokenOut:
    """A person logs in for the inbox; the session token lasts eight hours."""
    client = request.client.host if request.client else ""
    issued = andon.tokens.login(body.tenant, body.user, body.password, client)
    return TokenOut(token_id=issued.token_id, token=issued.token, expires_at=issued.expires_at)


@router.delete("/v1/session", status_code=204, tags=["auth"],
               responses=responses(401, 429))  # fmt: skip
def logout(
    andon: Andon,
    who: Writer,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Sign out: the session token in the Authorization header stops working at once."""
    assert credentials is not None  # Writer refused the request without one
    andon.tokens.end_session(credentials.credentials)
    return Response(status_code=204)


@router.post("/v1/tokens", response_model=TokenOut, status_code=201, tags=["auth"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def issue_token(body: TokenRequest, andon: Andon, who: Writer) -> TokenOut:
    """An API token for a principal of the tenant; the token is shown only here."""
    issued = andon.tokens.issue(who, body.user, body.name, roles=body.roles, sites=body.sites,
                                days=body.days)  # fmt: skip
    return TokenOut(token_id=issued.token_id, token=issued.token, expires_at=issued.expires_at)


@router.get("/v1/tokens", response_model=list[TokenInfoOut], tags=["auth"],
            responses=responses(401, 403))  # fmt: skip
def list_tokens(andon: Andon, who: Caller) -> list[TokenInfoOut]:
    return [
        TokenInfoOut(token_id=t.token_id, user_id=t.user_id, name=t.name, kind=t.kind,
                     roles=list(t.roles), sites=list(t.sites), created_at=t.created_at,
                     expires_at=t.expires_at, revoked_at=t.revoked_at)
        for t in andon.tokens.list(who)
    ]  # fmt: skip


@router.delete("/v1/tokens/{token_id}", status_code=204, tags=["auth"],
               responses=responses(401, 403, 404, 429))  # fmt: skip
def revoke_token(token_id: str, andon: Andon, who: Writer) -> Response:
    andon.tokens.revoke(who, token_id)
    return Response(status_code=204)


@router.post("/v1/templates/validate", response_model=ValidationOut, tags=["templates"],
             responses=responses(401, 403, 422))  # fmt: skip
def validate(body: TemplateSource, who: Caller) -> ValidationOut:
    """Every problem of a template with its path and line; stores nothing."""
    require(who, Permission.TEMPLATE_READ)
    _, problems = validate_text(body.source, body.name or "template.yaml")
    return ValidationOut(valid=not problems, problems=[str(p) for p in problems])


@router.post("/v1/templates", response_model=TemplateOut, status_code=201, tags=["templates"],
             responses=responses(401, 403, 409, 422, 429))  # fmt: skip
def publish(body: TemplateSource, andon: Andon, who: Writer) -> TemplateOut:
    t = andon.service.publish_template(who, body.source, body.name)
    return TemplateOut(id=t.id, version=t.version, digest=t.digest, title=t.title)


@router.get("/v1/templates", response_model=list[TemplateOut], tags=["templates"],
            responses=responses(401, 403))  # fmt: skip
def list_templates(andon: Andon, who: Caller) -> list[TemplateOut]:
    return [
        TemplateOut(id=t.template_id, version=t.version, digest=t.digest, title=t.title)
        for t in andon.service.published_templates(who)
    ]


@router.get("/v1/templates/{template_id}/versions/{version}", response_model=TemplateDetail,
            tags=["templates"], responses=responses(401, 403, 404, 422))  # fmt: skip
def get_template(template_id: str, version: int, andon: Andon, who: Caller) -> TemplateDetail:
    row = andon.service.template_source(who, template_id, version)
    return TemplateDetail(
        id=row.template_id,
        version=row.version,
        digest=row.digest,
        title=row.title,
        source=row.source,
        published_at=row.published_at,
    )


@router.post("/v1/overlays", response_model=OverlayOut, status_code=201, tags=["templates"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def publish_overlay(body: TemplateSource, andon: Andon, who: Writer) -> OverlayOut:
    o = andon.service.publish_overlay(who, body.source, body.name)
    return OverlayOut(template_id=o.template_id, plant=o.plant, digest=o.digest)


@router.post("/v1/events", response_model=EventOut, status_code=202, tags=["events"],
             responses=responses(401, 403, 422, 429))  # fmt: skip
def ingest(body: EventIn, andon: Andon, who: Writer) -> EventOut:
    """Take in one event (once per ``source`` and ``id``) and deliver it to waiting runs."""
    return _received(andon, who, body)


@router.post("/v1/events/batch", response_model=EventsOut, status_code=202, tags=["events"],
             responses=responses(401, 403, 422, 429))  # fmt: skip
def ingest_batch(body: EventsIn, andon: Andon, who: Writer) -> EventsOut:
    return EventsOut(results=[_received(andon, who, e) for e in body.events])


def _received(andon: App, who: Actor, event: EventIn) -> EventOut:
    got = andon.service.send_event(
        who, event.type, event.key, event.data, source=event.source, event_id=event.id,
        plant=event.plant,
    )  # fmt: skip
    return EventOut(reached=got.reached, started=list(got.started), duplicate=got.duplicate)


@router.get("/v1/audit/verify", response_model=VerifyOut, tags=["audit"],
            responses=responses(401, 403))  # fmt: skip
def verify(andon: Andon, who: Caller) -> VerifyOut:
    """Recompute the tenant's chains and every checkpoint; the first broken links, if any."""
    require(who, Permission.AUDIT_READ)
    report = andon.auditor.verify(who.tenant_id)
    return VerifyOut(ok=report.ok, runs=report.runs, journal_rows=report.journal_rows,
                     signatures=report.signatures, admin_rows=report.admin_rows,
                     checkpoints=report.checkpoints, problems=report.problems)  # fmt: skip


@router.get("/v1/runs/{run_id}/evidence", tags=["audit"], responses=responses(401, 403, 404))
def evidence(run_id: str, andon: Andon, who: Caller) -> dict[str, object]:
    """The run's evidence bundle (journal, decisions, signatures, chain proof)."""
    return dict(andon.evidence.export(who, run_id))


@router.post("/v1/users", status_code=201, tags=["admin"], response_model=UserOut,
             responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def add_user(body: UserIn, andon: Andon, who: Writer) -> UserOut:
    kind = PrincipalKind.SERVICE if body.service else PrincipalKind.PERSON
    andon.directory.create_user(who, body.user_id, body.name, kind=kind, password=body.password)
    for value in body.roles:
        role, _, site = value.partition("@")
        andon.directory.grant(who, body.user_id, role, site)
    return UserOut(user_id=body.user_id)


@router.post("/v1/users/{user_id}/grants", status_code=204, tags=["admin"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def grant(user_id: str, body: GrantIn, andon: Andon, who: Writer) -> Response:
    andon.directory.grant(who, user_id, body.role, body.site)
    return Response(status_code=204)


@router.delete("/v1/users/{user_id}/grants/{role}", status_code=204, tags=["admin"],
               responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def revoke(user_id: str, role: str, andon: Andon, who: Writer, site: str = "") -> Response:
    andon.directory.revoke(who, user_id, role, site)
    return Response(status_code=204)
