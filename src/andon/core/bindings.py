"""Action bindings: every action step of a template names an action the deployment provides.

Pure: the names an installation registers (its ``ActionRegistry``) come in as data, so the
same check serves publishing and, later, promoting a stored version (ADR 0030).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from andon.core.template import ActionSpec, Template
from andon.errors import Problem

SHOWN = 8
"""Registered names listed when none is close to the unknown one."""


def check_bindings(template: Template, provided: Collection[str]) -> list[Problem]:
    """One problem per action step whose ``action`` names nothing in ``provided``, at the
    step's ``action`` field, with the nearest registered names."""
    known = sorted(set(provided))
    problems = []
    for index, step in enumerate(template.steps.values()):
        if isinstance(step.spec, ActionSpec) and step.spec.action not in known:
            problems.append(Problem(f"steps[{index}].action", _unbound(step.spec.action, known)))
    return problems


def _unbound(name: str, known: list[str]) -> str:
    message = f"no action named '{name}' is registered"
    near = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if near:
        hint = "did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
    elif known:
        more = f" and {len(known) - SHOWN} more" if len(known) > SHOWN else ""
        hint = "registered: " + ", ".join(known[:SHOWN]) + more
    else:
        hint = "this installation registers none"
    return f"{message}; {hint} (actions come from the ANDON_ACTIONS modules)"
