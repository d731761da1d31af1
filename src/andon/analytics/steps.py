"""Which templates have a step of a given id and kind, read from the published templates.

A task row and a journal row name their step but not their template. Most step ids belong
to one template of a tenant, so the dashboards attribute by step id and join the run only
for the ids that several templates share. Parsed step lists are kept per template digest:
published versions never change.
"""

from __future__ import annotations

from collections.abc import Mapping

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from andon.store.analytics import AnalyticsReads

_STEPS: dict[str, tuple[tuple[str, str], ...]] = {}
"""Per template digest: (step id, kind) of each step."""
_MAX_CACHED = 4096


WAITING_KINDS = frozenset({"wait", "timer"})


def approval_templates(reads: AnalyticsReads) -> Mapping[str, frozenset[str]]:
    """Approval step id -> the ids of the tenant's templates that have such a step."""
    return _owners(reads, frozenset({"approval"}))


def wait_templates(reads: AnalyticsReads) -> Mapping[str, frozenset[str]]:
    """Wait and timer step id -> the ids of the tenant's templates that have such a step."""
    return _owners(reads, WAITING_KINDS)


def _owners(reads: AnalyticsReads, kinds: frozenset[str]) -> Mapping[str, frozenset[str]]:
    found = reads.template_digests()
    missing = sorted({digest for _, digest in found} - _STEPS.keys())
    if missing:
        sources = reads.template_sources(missing)
        if len(_STEPS) + len(missing) > _MAX_CACHED:
            _STEPS.clear()
        for digest, source in sources:
            _STEPS[digest] = _parse(source)
    owners: dict[str, set[str]] = {}
    for template_id, digest in found:
        for step, kind in _STEPS.get(digest, ()):
            if kind in kinds:
                owners.setdefault(step, set()).add(template_id)
    return {step: frozenset(ids) for step, ids in owners.items()}


def _parse(source: str) -> tuple[tuple[str, str], ...]:
    """(id, kind) of each step. The source passed the strict loader when it was published;
    the plain safe loader (C when available) reads it again at a third of the cost."""
    try:
        document = YAML(typ="safe").load(source)
    except YAMLError:
        return ()
    steps = document.get("steps") if isinstance(document, dict) else None
    if not isinstance(steps, list):
        return ()
    return tuple(
        (str(step["id"]), str(step.get("kind", "")))
        for step in steps
        if isinstance(step, dict) and "id" in step
    )
