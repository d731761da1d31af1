"""``andon diff``: what changed in meaning between two published versions of a template
(steps, decision rows, parameters per plant, roles, SLAs), or between two overlays of a
plant; as text for a reviewer or as JSON to attach to a promotion."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, fail, out, session
from andon.core.json import JsonObject
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)


def diff(
    template: Annotated[str, typer.Argument(help="Template id.")],
    old: Annotated[
        str | None, typer.Argument(help="Older version (with --overlay: an overlay digest).")
    ] = None,
    new: Annotated[
        str | None, typer.Argument(help="Newer version (with --overlay: an overlay digest).")
    ] = None,
    plant: Annotated[
        str | None, typer.Option("--plant", help="Only this plant (required with --overlay).")
    ] = None,
    overlay: Annotated[
        bool, typer.Option("--overlay", help="Diff the plant's overlays (latest two by default).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Semantic diff of TEMPLATE versions OLD and NEW, or with --overlay of two overlays of
    --plant (digests or prefixes of six or more characters; by default the latest two)."""
    if overlay and plant is None:
        fail("--overlay needs --plant")
    if not overlay and (old is None or new is None):
        fail("give two versions to compare, e.g. 'andon diff supplier-ncr 1 2'")
    with session() as built:
        actor = built.actor(user, tenant)
        if overlay:
            assert plant is not None
            found = built.service.overlay_diff(actor, template, plant, old, new)
            body: JsonObject = found.to_json()
            rendered = found.render_text()
        else:
            assert old is not None and new is not None
            versions = _version(old), _version(new)
            semantic = built.service.template_diff(actor, template, *versions, plant)
            body, rendered = semantic.to_json(), semantic.render_text()
    if as_json:
        out.print(json.dumps(body, indent=2, ensure_ascii=False), markup=False)
    else:
        out.print(rendered.rstrip("\n"), markup=False)


def _version(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) < 2**31:
        fail(f"version {value!r} is not a positive number (with --overlay, give digests)")
    return int(value)
