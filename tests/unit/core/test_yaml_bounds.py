"""Hostile YAML: deep nesting, tags and alias bombs end in one located problem, quickly.

ruamel's composer recurses once per nesting level and its scanner slows down quadratically
with flow depth, so without a bound these documents ran for minutes and ended in a
RecursionError; constructor tags ended in a TypeError.
"""

from __future__ import annotations

import time

import pytest

from andon.core.loader import validate_text
from andon.core.overlay import load_overlay
from andon.core.yamlsource import MAX_DEPTH, parse_yaml
from andon.errors import TemplateError

DEEP = 10_000
HOSTILE = {
    "flow lists": "id: x\nsteps: " + "[" * DEEP + "]" * DEEP + "\n",
    "flow maps": "id: x\nsteps: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n",
    "block sequences": "id: x\nsteps:\n" + "- " * DEEP + "1\n",
    "block maps": "id: x\nsteps:\n" + "".join(" " * i + "a:\n" for i in range(1, 1_300)),
    "mixed": "id: x\nsteps:\n" + "- a: [{b: " * (DEEP // 3) + "1",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_deep_nesting_is_one_located_problem(kind: str) -> None:
    started = time.monotonic()
    template, problems = validate_text(HOSTILE[kind], "deep.yaml")
    assert time.monotonic() - started < 1  # minutes, then a RecursionError, before the bound
    assert template is None
    assert [(p.message, p.source) for p in problems] == [
        (f"nested deeper than {MAX_DEPTH} levels", "deep.yaml")
    ]
    assert problems[0].line is not None and problems[0].line >= 2


def test_depth_counts_block_and_flow_levels_together() -> None:
    levels = MAX_DEPTH - 1
    ok = "a:\n" + "".join(" " * i + "a:\n" for i in range(1, levels - 2)) + " " * levels + "[[1]]\n"
    assert parse_yaml(ok, "ok.yaml")[1] == []
    too_deep = ok.replace("[[1]]", "[[[[1]]]]")
    assert [p.message for p in parse_yaml(too_deep, "deep.yaml")[1]] == [
        f"nested deeper than {MAX_DEPTH} levels"
    ]


def test_brackets_in_quotes_and_comments_are_not_nesting() -> None:
    text = (
        "a: '" + "[" * 100 + "'  # " + "{" * 100 + "\n"
        'b: "\\"' + "[" * 100 + '"\n'
        "c: [1, [2, {d: ']]]]'}]]\n"
    )
    located, problems = parse_yaml(text, "quoted.yaml")
    assert problems == []
    assert located is not None and located.value["c"] == [1, [2, {"d": "]]]]"}]]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "id: x\nrun: !!python/object/apply:os.system [echo owned]\n",
            "!!python/object/apply:os.system",
        ),
        ("id: x\nrun: !!python/name:os.system\n", "!!python/name:os.system"),
        ("id: x\nversion: !custom 1\n", "!custom"),
        ("id: x\nversion: !!str 1\n", "!!str"),
    ],
)
def test_explicit_tags_are_refused_with_their_line(text: str, shown: str) -> None:
    _, problems = validate_text(text, "tagged.yaml")
    assert [str(p) for p in problems] == [
        f"tagged.yaml:2: tag {shown!r} is not allowed (templates hold plain YAML values)"
    ]


def test_a_billion_laughs_stops_at_the_first_anchor() -> None:
    rows = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for name, prev in zip("bcdefghij", "abcdefghi", strict=True):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    _, problems = validate_text("id: x\n" + "\n".join(rows) + "\n", "laughs.yaml")
    assert [str(p) for p in problems] == ["laughs.yaml:2: anchors and aliases are not allowed"]


def test_overlays_get_the_same_bounds() -> None:
    deep = "template: x\nplant: P\nparameters: " + "[" * DEEP + "]" * DEEP + "\n"
    with pytest.raises(TemplateError, match=f"overlay.yaml:3: nested deeper than {MAX_DEPTH}"):
        load_overlay(deep, "overlay.yaml")
