"""OCEL 2.0 JSON: events linked to the runs and business objects they concern.

Each event relates to its run (qualifier ``case``), to the objects the run's input names
(qualified by the input field) and to the objects earlier actions of the run created
(qualified ``<step>.<output key>``). Objects relate to each other: the run to its main
object (``handles``), the main object (an NCR, a requisition) to the others.

Events are spooled to a temporary file (in memory while small) as they are read, because
the object and type lists they imply come first in the document; objects are kept in
memory, one entry per distinct object.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TextIO

from andon.export import process, source
from andon.export.process import RUN, Activity, ObjectRef, Scalar, Written
from andon.export.source import Case, Fact, Scope
from andon.store.sql import SqlStore

SPOOL_BYTES = 32 * 1024 * 1024
"""Events beyond this size go to a temporary file rather than memory."""

_TYPE_OF: dict[type, str] = {bool: "boolean", int: "integer", float: "float", str: "string"}


@dataclass
class _Object:
    type: str
    attributes: list[tuple[str, str, Scalar]] = field(default_factory=list)
    """(name, ISO time, value)."""
    links: set[tuple[str, str]] = field(default_factory=set)
    """(object id, qualifier)."""


@dataclass
class _Log:
    objects: dict[str, _Object] = field(default_factory=dict)
    event_types: dict[str, str] = field(default_factory=dict)
    """Activity name -> kind."""
    events: int = 0
    relations: int = 0

    def add(self, ref: ObjectRef) -> _Object:
        found = self.objects.get(ref.id)
        if found is None:
            found = self.objects[ref.id] = _Object(ref.type)
        return found


def write_ocel(store: SqlStore, scope: Scope, out: TextIO) -> Written:
    """Write the runs in ``scope`` as an OCEL 2.0 JSON log to ``out``."""
    log = _Log()
    cases = 0
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES, "w+", encoding="utf-8") as spool:
        with store.reader() as reader:
            for case, facts in source.cases(reader, scope):
                cases += 1
                _case(log, case, facts, spool)
        types = _object_types_by_name(log)
        out.write('{\n"objectTypes": ')
        _dump(_object_types(types), out)
        out.write(',\n"eventTypes": ')
        _dump(_event_types(log), out)
        out.write(',\n"objects": [')
        for n, (object_id, obj) in enumerate(sorted(log.objects.items())):
            out.write(",\n" if n else "\n")
            _dump(_object_json(object_id, obj, types), out)
        out.write('\n],\n"events": [')
        spool.seek(0)
        shutil.copyfileobj(spool, out)
        out.write("\n]\n}\n")
    links = sum(len(obj.links) for obj in log.objects.values())
    return Written(cases, log.events, len(log.objects), log.relations, links)


def _case(log: _Log, case: Case, facts: Iterator[Fact], spool: IO[str]) -> None:
    run = ObjectRef(RUN, case.run_id, "case")
    run_obj = log.add(run)
    started = process.iso(case.created_at)
    run_obj.attributes += [
        ("template", started, case.template_id),
        ("template_version", started, case.template_version),
        ("plant", started, case.plant),
        ("started_by", started, case.started_by),
    ]
    if case.ended_at is not None and case.outcome is not None:
        run_obj.attributes.append(("outcome", process.iso(case.ended_at), case.outcome))
    known: list[ObjectRef] = [run]
    main: _Object | None = None
    for fact in facts:
        if fact.type == "RunStarted" and isinstance(given := fact.body.get("input"), dict):
            inputs = process.input_objects(given)
            for ref in inputs:
                log.add(ref)
            if inputs:
                main = log.objects[inputs[0].id]
                run_obj.links.add((inputs[0].id, "handles"))
                main.links.update((ref.id, ref.qualifier) for ref in inputs[1:])
                main.attributes += [(n, started, v) for n, v in process.input_attributes(given)]
            known += [ref for ref in inputs if ref not in known]
        for activity in process.activities(case, fact):
            for ref in activity.created:
                log.add(ref)
                if main is not None and log.objects[ref.id] is not main:
                    main.links.add((ref.id, ref.qualifier))
                if ref not in known:
                    known.append(ref)
            _event(log, activity, known, spool)


def _event(log: _Log, activity: Activity, known: list[ObjectRef], spool: IO[str]) -> None:
    log.event_types.setdefault(activity.name, activity.kind)
    relations = [{"objectId": ref.id, "qualifier": ref.qualifier} for ref in known]
    if log.events:
        spool.write(",")
    spool.write("\n")
    _dump(
        {
            "id": activity.id,
            "type": activity.name,
            "time": process.iso(activity.at),
            "attributes": [
                {"name": "resource", "value": activity.resource},
                *({"name": n, "value": v} for n, v in activity.attributes),
            ],
            "relationships": relations,
        },
        spool,
    )
    log.events += 1
    log.relations += len(relations)


def _object_types_by_name(log: _Log) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, set[str]]] = {}
    for obj in log.objects.values():
        names = found.setdefault(obj.type, {})
        for name, _, value in obj.attributes:
            names.setdefault(name, set()).add(_TYPE_OF[type(value)])
    return {t: {n: _common(kinds) for n, kinds in names.items()} for t, names in found.items()}


def _common(kinds: set[str]) -> str:
    """One OCEL type for the values an attribute had: numbers widen to float, else string."""
    if len(kinds) == 1:
        return next(iter(kinds))
    return "float" if kinds <= {"integer", "float"} else "string"


def _object_types(types: dict[str, dict[str, str]]) -> list[object]:
    return [
        {
            "name": type_,
            "attributes": [{"name": n, "type": t} for n, t in sorted(attributes.items())],
        }
        for type_, attributes in sorted(types.items())
    ]


def _event_types(log: _Log) -> list[object]:
    return [
        {
            "name": name,
            "attributes": [
                {"name": "resource", "type": "string"},
                *({"name": n, "type": t} for n, t in process.KINDS[kind]),
            ],
        }
        for name, kind in sorted(log.event_types.items())
    ]


def _object_json(
    object_id: str, obj: _Object, types: dict[str, dict[str, str]]
) -> dict[str, object]:
    declared = types.get(obj.type, {})
    return {
        "id": object_id,
        "type": obj.type,
        "attributes": [
            {"name": name, "time": at, "value": _as(declared.get(name, "string"), value)}
            for name, at, value in obj.attributes
        ],
        "relationships": [
            {"objectId": target, "qualifier": qualifier} for target, qualifier in sorted(obj.links)
        ],
    }


def _as(declared: str, value: Scalar) -> Scalar:
    if declared == "float" and not isinstance(value, bool) and isinstance(value, int):
        return float(value)
    if declared == "string" and not isinstance(value, str):
        return json.dumps(value)
    return value


def _dump(value: object, out: IO[str]) -> None:
    out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
