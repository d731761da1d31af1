"""Semantic diffs of published templates and overlays, read with ``template.read`` like the
templates themselves: two versions of a template (with what each plant's runs would see),
and two overlays of a plant (by digest, or its latest two)."""

from __future__ import annotations

from dataclasses import dataclass

from andon.core.overlay import Overlay
from andon.core.template_diff import OverlayDiff, TemplateDiff, diff_overlays, diff_templates
from andon.errors import InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime.operations import operation
from andon.runtime.templates import TemplateCache
from andon.store.overlays import PublishedOverlay
from andon.store.sql import SqlStore

MIN_DIGEST_PREFIX = 6


class DiffDesk:
    """The diff operations of the service (mixed into ``Andon``)."""

    store: SqlStore
    templates: TemplateCache

    @operation(Permission.TEMPLATE_READ)
    def template_diff(
        self, actor: Actor, template_id: str, old: int, new: int, plant: str | None = None
    ) -> TemplateDiff:
        """What changed from version ``old`` to ``new``, with the parameters of every plant
        that has an overlay (only ``plant``'s when given)."""
        authz.require(actor, Permission.TEMPLATE_READ)
        versions = []
        for version in (old, new):
            if not 1 <= version < 2**31:
                raise NotFoundError(f"no published template '{template_id}@{version}'")
            versions.append(self.templates.get(actor.tenant_id, template_id, version))
        latest = [o for o in self.overlay_history(actor, template_id, plant) if o.newest]
        overlays = [_overlay(o.published) for o in latest]
        return diff_templates(versions[0], versions[1], overlays)

    @operation(Permission.TEMPLATE_READ)
    def overlay_diff(
        self,
        actor: Actor,
        template_id: str,
        plant: str,
        old_digest: str | None = None,
        new_digest: str | None = None,
    ) -> OverlayDiff:
        """What changed between two overlays of ``plant`` (digests or unique prefixes of at
        least six characters); by default its previous overlay and the one that applies.
        Effective values are those under the template's latest version."""
        authz.require(actor, Permission.TEMPLATE_READ)
        history = [h.published for h in self.overlay_history(actor, template_id, plant)]
        where = f"{template_id}/{plant}"
        if not history:
            raise NotFoundError(f"no overlay published for {where}")
        if (old_digest is None) != (new_digest is None):
            raise InputError("give both digests, or neither for the latest two")
        if old_digest is None or new_digest is None:
            old, new = (history[1] if len(history) > 1 else None), history[0]
        else:
            old, new = _find(history, old_digest, where), _find(history, new_digest, where)
        with self.store.reader() as reader:
            latest = reader.scoped(actor.tenant_id).template(template_id, None)
        template = self.templates.compile(actor.tenant_id, latest) if latest else None
        return diff_overlays(_overlay(old) if old else None, _overlay(new), template)

    @operation(Permission.TEMPLATE_READ)
    def overlay_history(
        self, actor: Actor, template_id: str, plant: str | None = None
    ) -> list[OverlayVersion]:
        """Every overlay published for ``template_id`` (of ``plant``), by plant, newest first."""
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            found = reader.scoped(actor.tenant_id).overlays(template_id, plant)
        seen: set[str] = set()
        out = []
        for item in found:
            out.append(OverlayVersion(item, item.row.plant not in seen))
            seen.add(item.row.plant)
        return out


@dataclass(frozen=True, slots=True)
class OverlayVersion:
    """A published overlay, and whether it is its plant's newest (the one that applies)."""

    published: PublishedOverlay
    newest: bool


def _overlay(found: PublishedOverlay) -> Overlay:
    row = found.row
    return Overlay(row.template_id, row.plant, row.params, row.digest)


def _find(history: list[PublishedOverlay], digest: str, where: str) -> PublishedOverlay:
    if len(digest) < MIN_DIGEST_PREFIX:
        raise InputError(f"digest '{digest}' is too short: give at least {MIN_DIGEST_PREFIX}")
    matches = [h for h in history if h.row.digest.startswith(digest.lower())]
    if not matches:
        raise NotFoundError(f"no overlay '{digest}' published for {where}")
    if len({h.row.digest for h in matches}) > 1:  # content published again: one overlay
        raise InputError(f"digest '{digest}' matches {len(matches)} overlays of {where}")
    return matches[0]
