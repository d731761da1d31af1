"""Plant overlays: a plant's changes to a template, published on their own."""

from __future__ import annotations

from fastapi import APIRouter

from andon.api.models import OverlayOut, TemplateSource
from andon.api.problems import responses
from andon.api.security import Andon, Writer

router = APIRouter()


@router.post("/v1/overlays", response_model=OverlayOut, status_code=201, tags=["templates"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def publish_overlay(body: TemplateSource, andon: Andon, who: Writer) -> OverlayOut:
    o = andon.service.publish_overlay(who, body.source, body.name)
    return OverlayOut(template_id=o.template_id, plant=o.plant, digest=o.digest)
