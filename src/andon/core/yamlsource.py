"""Read YAML 1.2 documents safely, keeping line numbers for error messages.

Anchors and aliases are refused (they make "billion laughs" documents possible and are never
needed in a template), as are merge keys, duplicate keys and documents over ``MAX_BYTES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import NodeEvent

from andon.core.json import JsonValue
from andon.errors import Problem

MAX_BYTES = 1_000_000
MAX_DEPTH = 40


@dataclass(frozen=True, slots=True)
class Located:
    """A parsed document plus a way to find the line of any path in it."""

    value: JsonValue
    lines: dict[str, int]

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest ancestor the source has a line for."""
        probe = path
        line = self.lines.get(probe)
        while line is None and probe:
            shorter = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", probe)
            if shorter == probe:
                break
            probe = shorter
            line = self.lines.get(probe)
        return line


def locate(text: str, source: str, problems: list[Problem]) -> list[Problem]:
    """``problems`` found on a parsed document, given the source name and line of each path."""
    located, _ = parse_yaml(text, source)
    return [
        Problem(p.path, p.message, source, located.line_of(p.path) if located else None)
        for p in problems
    ]


def parse_yaml(text: str, source: str) -> tuple[Located | None, list[Problem]]:
    """Parse ``text``; on failure return the problems instead of raising."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None, [Problem("", f"file is larger than {MAX_BYTES} bytes", source)]
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 2)
    try:
        # Scanned as events so that scalar aliases and merge keys (``<<: *base``), which
        # loading resolves into plain values, are refused too.
        for event in yaml.parse(text):
            if isinstance(event, NodeEvent) and event.anchor:
                line = event.start_mark.line + 1
                return None, [Problem("", "anchors and aliases are not allowed", source, line)]
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        return None, [Problem("", message, source, line)]
    except YAMLError as exc:
        return None, [Problem("", " ".join(str(exc).split())[:300], source)]
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    value = _plain(raw, "", lines, problems, source, set(), 0, 1)
    return Located(value, lines), problems


def _plain(
    node: object,
    path: str,
    lines: dict[str, int],
    problems: list[Problem],
    source: str,
    seen: set[int],
    depth: int,
    line: int,
) -> JsonValue:
    if depth > MAX_DEPTH:
        problems.append(Problem(path, f"nested deeper than {MAX_DEPTH} levels", source, line))
        return None
    if isinstance(node, CommentedMap | CommentedSeq):
        if id(node) in seen:
            problems.append(Problem(path, "anchors and aliases are not allowed", source, line))
            return None
        seen.add(id(node))
    if isinstance(node, CommentedMap):
        if node.merge:  # '<<' keys copy entries that have no line of their own
            problems.append(Problem(path, "merge keys ('<<') are not allowed", source, line))
            return None
        out: dict[str, JsonValue] = {}
        for key in node:
            key_line = node.lc.key(key)[0] + 1
            child = f"{path}.{key}" if path else str(key)
            lines[child] = key_line
            if not isinstance(key, str):
                problems.append(Problem(child, "keys must be strings", source, key_line))
                continue
            out[key] = _plain(node[key], child, lines, problems, source, seen, depth + 1, key_line)
        return out
    if isinstance(node, CommentedSeq):
        items: list[JsonValue] = []
        for index, item in enumerate(node):
            item_line = node.lc.item(index)[0] + 1
            child = f"{path}[{index}]"
            lines[child] = item_line
            items.append(_plain(item, child, lines, problems, source, seen, depth + 1, item_line))
        return items
    if node is None:
        return None
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, date):
        return node.isoformat()
    problems.append(
        Problem(path, f"unsupported YAML value of type {type(node).__name__}", source, line)
    )
    return None
