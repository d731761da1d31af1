"""Templates: validate a source, publish a version, list them, read one version."""

from __future__ import annotations

from fastapi import APIRouter

from andon.api.models import TemplateDetail, TemplateOut, TemplateSource, ValidationOut
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer
from andon.core.loader import validate_text
from andon.governance.authz import Permission, require

router = APIRouter()


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
