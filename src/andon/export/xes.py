"""XES (IEEE 1849) event log: one trace per run, streamed as it is read.

Every event has ``concept:name`` (the activity), ``time:timestamp``,
``lifecycle:transition`` and ``org:resource``; the trace carries the run id as its
``concept:name`` and the run's template, plant, outcome and business objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TextIO

from andon.export import process, source
from andon.export.process import Scalar, Written
from andon.export.source import Case, Fact, Scope
from andon.store.sql import SqlStore

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000000+00:00"/>
    <string key="lifecycle:transition" value="complete"/>
    <string key="org:resource" value="__INVALID__"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Activity and lifecycle" keys="concept:name lifecycle:transition"/>
  <string key="concept:name" value="Andon runs"/>
"""
# XML 1.0 allows tab, newline and carriage return but no other control character.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def write_xes(store: SqlStore, scope: Scope, out: TextIO) -> Written:
    """Write the runs in ``scope`` as an XES log to ``out``."""
    cases = events = 0
    out.write(_HEADER)
    with store.reader() as reader:
        for case, facts in source.cases(reader, scope):
            cases += 1
            events += _trace(case, facts, out)
    out.write("</log>\n")
    return Written(cases=cases, events=events)


def _trace(case: Case, facts: Iterator[Fact], out: TextIO) -> int:
    out.write("  <trace>\n")
    _attr(out, 4, "concept:name", case.run_id)
    _attr(out, 4, "template", case.template_id)
    _attr(out, 4, "template_version", case.template_version)
    _attr(out, 4, "plant", case.plant)
    _attr(out, 4, "status", case.status)
    if case.outcome is not None:
        _attr(out, 4, "outcome", case.outcome)
    count = 0
    for fact in facts:
        if fact.type == "RunStarted" and isinstance(given := fact.body.get("input"), dict):
            for ref in process.input_objects(given):
                _attr(out, 4, ref.type, ref.key)
            for name, value in process.input_attributes(given):
                _attr(out, 4, f"input.{name}", value)
        for activity in process.activities(case, fact):
            count += 1
            out.write("    <event>\n")
            _attr(out, 6, "concept:name", activity.name)
            _date(out, 6, "time:timestamp", process.iso(activity.at))
            _attr(out, 6, "lifecycle:transition", activity.lifecycle)
            _attr(out, 6, "org:resource", activity.resource)
            _attr(out, 6, "event_id", activity.id)
            for name, value in activity.attributes:
                _attr(out, 6, name, value)
            for ref in activity.created:
                _attr(out, 6, ref.type, ref.key)
            out.write("    </event>\n")
    out.write("  </trace>\n")
    return count


def escape(value: str) -> str:
    """``value`` as XML attribute text: markup escaped, characters XML 1.0 forbids replaced."""
    return _ILLEGAL.sub("\ufffd", value).translate(_ESCAPES)


def _attr(out: TextIO, indent: int, key: str, value: Scalar) -> None:
    if isinstance(value, bool):
        tag, text = "boolean", "true" if value else "false"
    elif isinstance(value, int):
        tag, text = "int", str(value)
    elif isinstance(value, float):
        tag, text = "float", repr(value)
    else:
        tag, text = "string", value
    out.write(f'{" " * indent}<{tag} key="{escape(key)}" value="{escape(text)}"/>\n')


def _date(out: TextIO, indent: int, key: str, value: str) -> None:
    out.write(f'{" " * indent}<date key="{escape(key)}" value="{value}"/>\n')
