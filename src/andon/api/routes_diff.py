"""Diffs for review and promotion: two versions of a template (a unified diff of the YAML,
or with ``semantic=1`` what changed in meaning) and two overlays of a plant."""

from __future__ import annotations

import difflib
from typing import Annotated

from fastapi import APIRouter, Path, Query

from andon.api.models import DiffOut
from andon.api.models_diff import OverlayDiffOut, SemanticDiffOut
from andon.api.problems import responses
from andon.api.security import Andon, Caller

router = APIRouter()
PLANT = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"
DIGEST = r"^[0-9a-f]+$"


@router.get("/v1/templates/{template_id}/diff", response_model=DiffOut | SemanticDiffOut,
            tags=["templates"], responses=responses(401, 403, 404, 422))  # fmt: skip
def diff_template(
    template_id: str,
    andon: Andon,
    who: Caller,
    from_version: Annotated[int, Query(alias="from", ge=1, le=1_000_000)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=1_000_000)],
    semantic: Annotated[bool, Query(description="What changed in meaning, as JSON")] = False,
    plant: Annotated[str | None, Query(pattern=PLANT, description="Only this plant")] = None,
) -> DiffOut | SemanticDiffOut:
    """What changed between two published versions: a unified diff of their YAML, or with
    ``semantic=1`` the steps, decision rows, parameters (per plant), roles and SLAs."""
    if semantic:
        found = andon.service.template_diff(who, template_id, from_version, to_version, plant)
        return SemanticDiffOut.of(found)
    old = andon.service.template_source(who, template_id, from_version)
    new = andon.service.template_source(who, template_id, to_version)
    lines = difflib.unified_diff(
        old.source.splitlines(keepends=True), new.source.splitlines(keepends=True),
        f"{template_id}@{from_version}", f"{template_id}@{to_version}",
    )  # fmt: skip
    return DiffOut(template_id=template_id, from_version=from_version, to_version=to_version,
                   diff="".join(lines))  # fmt: skip


@router.get("/v1/templates/{template_id}/overlays/{plant}/diff", response_model=OverlayDiffOut,
            tags=["templates"], responses=responses(401, 403, 404, 422))  # fmt: skip
def diff_overlay(
    template_id: str,
    plant: Annotated[str, Path(pattern=PLANT)],
    andon: Andon,
    who: Caller,
    from_digest: Annotated[
        str | None, Query(alias="from", min_length=6, max_length=64, pattern=DIGEST)
    ] = None,
    to_digest: Annotated[
        str | None, Query(alias="to", min_length=6, max_length=64, pattern=DIGEST)
    ] = None,
) -> OverlayDiffOut:
    """What changed between two overlays of a plant (digests or prefixes of them); by
    default its previous overlay and the one that applies now."""
    found = andon.service.overlay_diff(who, template_id, plant, from_digest, to_digest)
    return OverlayDiffOut.of(found)
