"""Semantic diff of two template versions, and of two overlays of a plant: what changed in
meaning (steps, decision rows, parameters, roles, SLAs, triggers, input), not which lines.

Pure: the caller loads templates and overlays. Steps, parameters and triggers are matched
by id; decision rows by id, then by content (a renamed row); docs/adr/0029 says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from andon.core import diff_fields as f
from andon.core.diff_model import Change, Entry, OverlayDiff, Status, TemplateDiff, topic_of
from andon.core.json import JsonObject, JsonValue, canonical_json
from andon.core.overlay import Overlay, resolve
from andon.core.template import DecideSpec, Template
from andon.errors import InputError, TemplateError

__all__ = [
    "Change",
    "Entry",
    "OverlayDiff",
    "Status",
    "TemplateDiff",
    "changes",
    "diff_overlays",
    "diff_templates",
    "json_changes",
    "plant_parameters",
]


def diff_templates(old: Template, new: Template, overlays: Iterable[Overlay] = ()) -> TemplateDiff:
    """What changed from ``old`` to ``new``; ``overlays`` (one per plant) add the
    parameters each plant's runs see under either version."""
    if old.id != new.id:
        raise InputError(f"cannot diff '{old.id}' with '{new.id}': not the same template")
    return TemplateDiff(
        template_id=new.id,
        old_version=old.version,
        new_version=new.version,
        old_digest=old.digest,
        new_digest=new.digest,
        template=changes(_head(old), _head(new)),
        roles=_sets(old.roles, new.roles),
        parameters=_entries(
            {n: f.parameter_fields(p) for n, p in old.parameters.items()},
            {n: f.parameter_fields(p) for n, p in new.parameters.items()},
        ),
        input=json_changes(old.input_schema, new.input_schema),
        triggers=_entries(
            _keyed((t.event, f.trigger_fields(t)) for t in old.triggers),
            _keyed((t.event, f.trigger_fields(t)) for t in new.triggers),
        ),
        duties=_sets(_duties(old), _duties(new)),
        steps=_steps(old, new),
        plants=tuple(_plants(old, new, overlays)),
    )


def diff_overlays(
    old: Overlay | None, new: Overlay, template: Template | None = None
) -> OverlayDiff:
    """What changed from a plant's ``old`` overlay to ``new``; with ``template``, also the
    values its runs see (a value dropped from the overlay falls back to the default)."""
    if old is not None and (old.template_id, old.plant) != (new.template_id, new.plant):
        raise InputError(
            f"cannot diff the overlay of {old.template_id}/{old.plant} "
            f"with that of {new.template_id}/{new.plant}"
        )
    before = f.values_fields(old.parameters) if old is not None else {}
    effective: tuple[Change, ...] = ()
    if template is not None:
        old_values, _ = plant_parameters(template, old)
        new_values, _ = plant_parameters(template, new)
        effective = changes(f.values_fields(old_values), f.values_fields(new_values))
    return OverlayDiff(
        new.template_id, new.plant, old.digest if old else None, new.digest,
        changes(before, f.values_fields(new.parameters)), effective,
        template.ref if template else None,
    )  # fmt: skip


def plant_parameters(template: Template, overlay: Overlay | None) -> tuple[JsonObject, list[str]]:
    """The values a plant's runs see, and why the overlay does not fit (when it does not:
    then the values it sets that the template knows still count)."""
    try:
        return resolve(template, overlay), []
    except TemplateError as exc:
        assert overlay is not None
        values: JsonObject = {n: p.default for n, p in template.parameters.items()}
        values.update((n, v) for n, v in overlay.parameters.items() if n in values)
        return values, [f"{p.path}: {p.message}" for p in exc.problems]


def changes(
    old: Mapping[str, f.Field], new: Mapping[str, f.Field], *, topics: bool = False
) -> tuple[Change, ...]:
    """Fields that differ, in ``old``'s order then those only ``new`` has; ``topics`` tags
    each with what it is about (a step's fields)."""
    out = []
    for name in [*old, *(n for n in new if n not in old)]:
        a, b = old.get(name), new.get(name)
        if a is None or b is None or a.key != b.key:
            topic = topic_of(name) if topics else ""
            out.append(Change(name, a.shown if a else None, b.shown if b else None, topic))
    return tuple(out)


def json_changes(old: JsonValue, new: JsonValue, path: str = "") -> tuple[Change, ...]:
    """Two JSON documents compared by path; a subtree added or removed is one change.
    ``required``, ``enum`` and ``type`` lists are compared as sets."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for name in sorted({*old, *new}):
            where = f"{path}.{name}" if path else name
            if name not in old or name not in new:
                out.append(Change(where, old.get(name), new.get(name)))
            else:
                out.extend(json_changes(old[name], new[name], where))
        return tuple(out)
    as_set = path.rsplit(".", 1)[-1] in ("required", "enum", "type")
    if as_set and isinstance(old, list) and isinstance(new, list):
        same = sorted(map(canonical_json, old)) == sorted(map(canonical_json, new))
    else:
        same = canonical_json(old) == canonical_json(new)
    return () if same else (Change(path or "(schema)", old, new),)


def _head(template: Template) -> f.Fields:
    return {
        "title": f.plain(template.title),
        "start": f.plain(template.start),
        "regulated": f.plain(template.regulated),
        "retention": f.plain(template.retention),
    }


def _entries(old: Mapping[str, f.Fields], new: Mapping[str, f.Fields]) -> tuple[Entry, ...]:
    out = []
    for key, fields in new.items():
        if key not in old:
            out.append(Entry(key, Status.ADDED, changes({}, fields)))
        elif found := changes(old[key], fields):
            out.append(Entry(key, Status.CHANGED, found))
    out.extend(Entry(k, Status.REMOVED, changes(v, {})) for k, v in old.items() if k not in new)
    return tuple(out)


def _keyed(items: Iterable[tuple[str, f.Fields]]) -> dict[str, f.Fields]:
    """By key; a repeated key gets ``#2``, ``#3`` in order (ids need not be unique)."""
    out: dict[str, f.Fields] = {}
    for key, fields in items:
        unique, n = key, 1
        while unique in out:
            n += 1
            unique = f"{key}#{n}"
        out[unique] = fields
    return out


def _sets(old: Iterable[str], new: Iterable[str]) -> tuple[Entry, ...]:
    a, b = set(old), set(new)
    added = [Entry(k, Status.ADDED) for k in sorted(b - a)]
    return (*added, *(Entry(k, Status.REMOVED) for k in sorted(a - b)))


def _duties(template: Template) -> list[str]:
    duties = template.duties
    # A role conflict binds both ways; step separation names first and second step.
    return (
        [f"conflicting_roles {' / '.join(sorted(p))}" for p in duties.conflicting_roles]
        + [f"separate_steps {x} → {y}" for x, y in duties.separate_steps]
        + [f"barred {path}" for path in duties.barred]
    )


def _steps(old: Template, new: Template) -> tuple[Entry, ...]:
    out = []
    for step_id, step in new.steps.items():
        before = old.steps.get(step_id)
        rules = step.spec if isinstance(step.spec, DecideSpec) else None
        if before is None:
            rows, _ = _rows(None, rules)
            fields = changes({}, f.step_fields(step), topics=True)
            out.append(Entry(step_id, Status.ADDED, fields, rows, step.kind))
            continue
        old_rules = before.spec if isinstance(before.spec, DecideSpec) else None
        rows, order = _rows(old_rules, rules)
        found = changes(f.step_fields(before), f.step_fields(step), topics=True) + order
        if found or rows:
            out.append(Entry(step_id, Status.CHANGED, found, rows, step.kind))
    for step_id, step in old.steps.items():
        if step_id not in new.steps:
            rules = step.spec if isinstance(step.spec, DecideSpec) else None
            rows, _ = _rows(rules, None)
            gone = changes(f.step_fields(step), {}, topics=True)
            out.append(Entry(step_id, Status.REMOVED, gone, rows, step.kind))
    return tuple(out)


def _rows(
    old: DecideSpec | None, new: DecideSpec | None
) -> tuple[tuple[Entry, ...], tuple[Change, ...]]:
    """Rows paired first by equal content (a moved or renamed row is the same row), then
    by id (a row edited in place); in a first-hit table the order of the paired rows is
    compared too, since the first match decides."""
    a = _keyed((r.id, f.rule_fields(r)) for r in (old.rules if old else ()))
    b = _keyed((r.id, f.rule_fields(r)) for r in (new.rules if new else ()))
    pairs: dict[str, str] = {}  # new id -> old id
    free = dict.fromkeys(a)  # old rows not yet paired, in order
    for same_id in (True, False):
        for key in (k for k in b if k not in pairs):
            match = next(
                (
                    o
                    for o in free
                    if (o == key or not same_id) and _content(a[o]) == _content(b[key])
                ),
                None,
            )
            if match is not None:
                pairs[key] = match
                del free[match]
    for key in (k for k in b if k not in pairs and k in free):
        pairs[key] = key
        del free[key]
    out = []
    for key, fields in b.items():
        if key not in pairs:
            out.append(Entry(key, Status.ADDED, changes({}, fields, topics=True)))
            continue
        was = pairs[key]
        renamed = (Change("id", was, key, "step"),) if was != key else ()
        if found := renamed + changes(a[was], fields, topics=True):
            out.append(Entry(key, Status.CHANGED, found))
    out.extend(Entry(k, Status.REMOVED, changes(a[k], {}, topics=True)) for k in free)
    order: tuple[Change, ...] = ()
    if old is not None and new is not None and new.hit == "first":
        as_new = {was: key for key, was in pairs.items()}
        before: list[JsonValue] = [as_new[k] for k in a if k in as_new]
        after: list[JsonValue] = [k for k in b if k in pairs]
        if before != after:
            order = (Change("rules.order", before, after, "routing"),)
    return tuple(out), order


def _content(fields: f.Fields) -> str:
    return "\n".join(f"{k}={v.key}" for k, v in fields.items())


def _plants(old: Template, new: Template, overlays: Iterable[Overlay]) -> Iterable[Entry]:
    for overlay in sorted(overlays, key=lambda o: o.plant):
        old_values, old_problems = plant_parameters(old, overlay)
        new_values, new_problems = plant_parameters(new, overlay)
        found = changes(f.values_fields(old_values), f.values_fields(new_values))
        note = ""
        if new_problems and new_problems != old_problems:  # newly broken by this version
            note = f"overlay {overlay.digest[:12]} does not fit {new.ref}: " + "; ".join(
                new_problems
            )
        if found or note:
            yield Entry(overlay.plant, Status.CHANGED, found, note=note)
