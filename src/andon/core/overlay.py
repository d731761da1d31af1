"""Plant overlays: one plant's parameter values for one template, pinned by digest."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from andon.core.json import JsonObject, JsonValue
from andon.core.loader import check_param_value
from andon.core.template import Template
from andon.core.yamlsource import parse_yaml
from andon.errors import Problem, TemplateError

PLANT_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")


@dataclass(frozen=True, slots=True)
class Overlay:
    template_id: str
    plant: str
    parameters: JsonObject
    digest: str


def digest_of(template_id: str, plant: str, parameters: JsonObject) -> str:
    canonical = json.dumps(
        {"template": template_id, "plant": plant, "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_overlay(text: str, source: str = "") -> Overlay:
    """Parse an overlay file: ``template``, ``plant`` and ``parameters``."""
    located, problems = parse_yaml(text, source)
    if located is None or problems:
        raise TemplateError(problems)
    doc = located.value
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message, source, located.lines.get(path)))

    if not isinstance(doc, dict):
        raise TemplateError([Problem("", "an overlay must be a mapping", source, 1)])
    for key in doc:
        if key not in ("template", "plant", "parameters", "description"):
            add(key, f"unknown field '{key}'")
    template_id, plant, params = doc.get("template"), doc.get("plant"), doc.get("parameters", {})
    if not isinstance(template_id, str):
        add("template", "missing or not a template id")
    if not isinstance(plant, str) or not PLANT_PATTERN.fullmatch(plant):
        add("plant", f"plant must be a code like 'DE-STR', got {plant!r}")
    if not isinstance(params, dict):
        add("parameters", "must be a mapping of parameter name -> value")
    if found:
        raise TemplateError(found)
    assert isinstance(template_id, str) and isinstance(plant, str) and isinstance(params, dict)
    return Overlay(template_id, plant, params, digest_of(template_id, plant, params))


def resolve(template: Template, overlay: Overlay | None, source: str = "") -> JsonObject:
    """Template defaults with the overlay's values on top, each checked against its type."""
    values: dict[str, JsonValue] = {name: p.default for name, p in template.parameters.items()}
    if overlay is None:
        return values
    problems = []
    if overlay.template_id != template.id:
        problems.append(
            Problem(
                "template", f"overlay is for '{overlay.template_id}', not '{template.id}'", source
            )
        )
    for name, value in overlay.parameters.items():
        param = template.parameters.get(name)
        path = f"parameters.{name}"
        if param is None:
            problems.append(
                Problem(path, f"template {template.ref} has no parameter '{name}'", source)
            )
            continue
        problem = check_param_value(param.type, value, set(template.roles))
        if problem:
            problems.append(Problem(path, problem, source))
        values[name] = value
    if problems:
        raise TemplateError(problems)
    return values
