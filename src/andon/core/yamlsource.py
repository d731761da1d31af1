"""Read YAML 1.2 documents safely, keeping line numbers for error messages.

Anchors and aliases are refused (they make "billion laughs" documents possible and are never
needed in a template), as are merge keys, duplicate keys, explicit tags (``!!python/...``),
documents over ``MAX_BYTES`` and nesting deeper than ``MAX_DEPTH``. Depth is bounded before
ruamel builds anything: its composer recurses once per level (a RecursionError after minutes
on ``[[[[...]]]]``) and its scanner slows down quadratically with flow depth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent, NodeEvent

from andon.core.json import JsonValue
from andon.errors import Problem

MAX_BYTES = 1_000_000
MAX_DEPTH = 40
_SIGNIFICANT = re.compile(r"[][{}'\"#\n\\]")


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
    deep = _flow_too_deep(text)
    if deep is not None:
        return None, [Problem("", f"nested deeper than {MAX_DEPTH} levels", source, deep)]
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 2)
    try:
        refused = _refused_event(yaml, text)
        if refused is not None:
            return None, [Problem("", refused[1], source, refused[0])]
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


def _refused_event(yaml: YAML, text: str) -> tuple[int, str] | None:
    """(line, reason) of the first event the loader must not see, or None.

    Scanned as events (the parser keeps a stack, it does not recurse) so that depth is
    bounded before the recursive composer runs, and so that scalar aliases and merge keys
    (``<<: *base``), which loading resolves into plain values, are refused too.
    """
    depth = 0
    for event in yaml.parse(text):
        line = event.start_mark.line + 1
        if isinstance(event, NodeEvent) and event.anchor:
            return line, "anchors and aliases are not allowed"
        tag = getattr(event, "tag", None)
        if tag is not None:  # plain values need none; others name constructors or types
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")
            return line, f"tag {shown!r} is not allowed (templates hold plain YAML values)"
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return line, f"nested deeper than {MAX_DEPTH} levels"
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    return None


def _flow_too_deep(text: str) -> int | None:
    """Line where flow collections (``[``, ``{``) nest deeper than MAX_DEPTH, or None.

    One linear pass that skips comments and quoted scalars. Brackets inside plain scalars
    (``input.items[0]``) are counted too, which can only overestimate by the few levels an
    expression opens; the event scan afterwards applies the exact bound.
    """
    depth = 0
    line = 1
    quote = ""
    skip_to = 0  # end of a comment, or the character after an escape
    for match in _SIGNIFICANT.finditer(text):
        index = match.start()
        char = text[index]
        if char == "\n":
            line += 1
        if index < skip_to:
            continue
        previous = text[index - 1] if index else "\n"
        if quote:
            if quote == '"' and char == "\\":
                skip_to = index + 2
            elif char == quote:
                quote = ""
        elif char == "#" and previous in " \t\n":
            end = text.find("\n", index)
            skip_to = len(text) if end < 0 else end
        elif char in "'\"" and previous in " \t\n[{,:-?":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


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
