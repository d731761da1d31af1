"""The reference templates and plant overlays in templates/ are valid, and so is their schema.

Every template must pass both the loader (the authority) and the published JSON Schema (what
editors use), and the two must agree on deliberately broken templates. The purchase
requisition template is also run through the engine, because a demo simulator relies on its
approval levels and outcomes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from andon.core import engine
from andon.core.commands import OpenTask, RunAction
from andon.core.events import RunStarted, StepSucceeded, TaskCompleted
from andon.core.loader import load_template, validate_text
from andon.core.overlay import Overlay, load_overlay, resolve
from andon.core.params import coerce_to_schema
from andon.core.run import Run, RunStatus
from andon.core.template import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = ROOT / "templates"
OVERLAY_DIR = TEMPLATE_DIR / "overlays"
SCHEMA_DIR = ROOT / "schemas"
SHIPPED = ROOT / "src" / "andon" / "runtime" / "shipped"
TEMPLATE_FILES = sorted([*TEMPLATE_DIR.glob("*.yaml"), *SHIPPED.glob("*.yaml")])
OVERLAY_FILES = sorted(OVERLAY_DIR.glob("*.yaml"))
PLANTS = ("DE-STR", "US-GRR", "IE-COR")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _safe_load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text("utf-8"))
    return Draft202012Validator(schema)


def _schema_errors(name: str, document: Any) -> list[str]:
    errors = _validator(name).iter_errors(document)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


@cache
def _templates() -> dict[str, Template]:
    out = {}
    for path in TEMPLATE_FILES:
        template = load_template(path.read_text("utf-8"), str(path))
        out[template.id] = template
    return out


def _overlay(template_id: str, plant: str) -> Overlay:
    path = OVERLAY_DIR / f"{template_id}.{plant}.yaml"
    return load_overlay(path.read_text("utf-8"), str(path))


# ---- the files and the schemas ---------------------------------------------------------------


def test_reference_files_exist() -> None:
    assert {p.name for p in TEMPLATE_FILES} >= {"supplier-ncr.yaml", "purchase-requisition.yaml"}
    expected = {f"{t}.{p}.yaml" for t in ("supplier-ncr", "purchase-requisition") for p in PLANTS}
    assert expected <= {p.name for p in OVERLAY_FILES}


@pytest.mark.parametrize("name", ["template.schema.json", "overlay.schema.json"])
def test_schema_is_a_valid_2020_12_schema(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / name).read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("https://andon.dev/schemas/")


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_template_passes_the_loader(path: Path) -> None:
    template, problems = validate_text(path.read_text("utf-8"), str(path))
    assert [str(p) for p in problems] == []
    assert template is not None
    assert path.name == f"{template.id}.yaml"


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_template_matches_the_json_schema(path: Path) -> None:
    assert _schema_errors("template.schema.json", _safe_load(path)) == []


@pytest.mark.parametrize("path", OVERLAY_FILES, ids=lambda p: p.name)
def test_overlay_loads_resolves_and_matches_its_schema(path: Path) -> None:
    overlay = load_overlay(path.read_text("utf-8"), str(path))
    assert path.name == f"{overlay.template_id}.{overlay.plant}.yaml"
    template = _templates()[overlay.template_id]
    values = resolve(template, overlay, str(path))
    assert set(values) == set(template.parameters)
    assert _schema_errors("overlay.schema.json", _safe_load(path)) == []


@pytest.mark.parametrize("plant", PLANTS)
def test_overlay_money_is_in_one_plant_currency(plant: str) -> None:
    currency = {"DE-STR": "EUR", "US-GRR": "USD", "IE-COR": "EUR"}[plant]
    for template_id in ("supplier-ncr", "purchase-requisition"):
        values = resolve(_templates()[template_id], _overlay(template_id, plant))
        params = _templates()[template_id].parameters
        money = {n: v for n, v in values.items() if params[n].type == "money"}
        assert money
        assert {v["currency"] for v in money.values()} == {currency}  # type: ignore[index]


# ---- the schema rejects what the loader rejects -------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _step(doc: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in doc["steps"] if s["id"] == step_id)


BROKEN: dict[str, Mutation] = {
    "unknown step key": lambda d: _step(d, "check").update(retries=3),
    "unknown top-level key": lambda d: d.update(owner="purchasing"),
    "unknown step kind": lambda d: _step(d, "check").update(kind="subflow"),
    "end step with next": lambda d: _step(d, "rejected").update(next="approved"),
    "collect table routing a row": lambda d: _step(d, "quotes_check").update(hit="collect"),
    "approval without roles": lambda d: _step(d, "approve_l2").pop("roles"),
    "bad quorum": lambda d: _step(d, "approve_l2").update(quorum=0),
    "outcomes without approve": lambda d: _step(d, "approve_l2").update(
        outcomes={"reject": "rejected"}
    ),
    "bad duration": lambda d: _step(d, "approve_l2").update(due_in="1 day"),
    "parameter retry delay": lambda d: _step(d, "check")["retry"].update(initial="$approval_sla"),
    "bad money default": lambda d: d["parameters"]["l1_limit"].update(
        default={"amount": "5k", "currency": "EUR"}
    ),
    "unknown parameter type": lambda d: d["parameters"]["approval_sla"].update(type="date"),
    "wait timeout without on_timeout": lambda d: d["steps"].insert(
        1,
        {
            "id": "hold",
            "kind": "wait",
            "event": "purchase.x",
            "key": "input.pr_id",
            "timeout": "1d",
        },
    ),
    "bad template id": lambda d: d.update(id="Purchase_Requisition"),
    "missing steps": lambda d: d.pop("steps"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_schema_and_loader_both_reject_a_broken_template(name: str) -> None:
    doc = copy.deepcopy(_safe_load(TEMPLATE_DIR / "purchase-requisition.yaml"))
    BROKEN[name](doc)
    assert _schema_errors("template.schema.json", doc), f"schema accepted: {name}"
    _, problems = validate_text(json.dumps(doc), "broken.json")  # JSON is YAML 1.2
    assert problems, f"loader accepted: {name}"


def test_schema_names_the_unknown_step_key() -> None:
    doc = _safe_load(TEMPLATE_DIR / "supplier-ncr.yaml")
    doc["steps"][0]["retires"] = {"max_attempts": 3}
    errors = _schema_errors("template.schema.json", doc)
    assert any(e.startswith("steps/0:") and "'retires'" in e for e in errors), errors


# ---- the purchase requisition through the engine ------------------------------------------------


def _pr_input(amount: float, currency: str, quotes: int = 3) -> dict[str, Any]:
    data = {
        "pr_id": "PR-DEMO-0001",
        "requester": "u-7001",
        "cost_center": "4410",
        "category": "mro",
        "total": {"amount": amount, "currency": currency},
        "quotes": quotes,
        "need_by": "2026-12-03",
    }
    template = _templates()["purchase-requisition"]
    assert _schema_errors_for(template.input_schema, data) == []
    coerced = coerce_to_schema(data, template.input_schema)
    assert isinstance(coerced, dict)
    return coerced


def _schema_errors_for(schema: dict[str, Any], data: Any) -> list[str]:
    return [e.message for e in Draft202012Validator(schema).iter_errors(data)]


def _start_pr(plant: str, amount: float, quotes: int = 3) -> engine.Decision:
    template = _templates()["purchase-requisition"]
    overlay = _overlay("purchase-requisition", plant)
    params = resolve(template, overlay)
    currency = {"DE-STR": "EUR", "US-GRR": "USD", "IE-COR": "EUR"}[plant]
    started = RunStarted(
        template.id,
        template.version,
        overlay.digest,
        plant,
        _pr_input(amount, currency, quotes),
        params,
    )
    decision = engine.advance(template, Run("r"), started, NOW)
    assert decision.run.active == ("check",)
    return engine.advance(template, decision.run, StepSucceeded("check", 1, {}), NOW)


@pytest.mark.parametrize(
    ("plant", "amount", "level"),
    [
        ("DE-STR", 4000, "L1"),
        ("DE-STR", 5000, "L1"),
        ("DE-STR", 60000, "L3"),
        ("IE-COR", 30000, "L3"),
        ("IE-COR", 4000, "L2"),
        ("US-GRR", 400000, "L4"),
        ("US-GRR", 750000, "L5"),
    ],
)
def test_pr_level_follows_the_plant_matrix(plant: str, amount: float, level: str) -> None:
    decision = _start_pr(plant, amount)
    output = decision.run.steps["level"].output
    assert output == {"level": level, "rank": int(level[1])}


def test_pr_without_three_quotes_above_l1_is_rejected() -> None:
    decision = _start_pr("DE-STR", 12000, quotes=1)
    assert decision.run.status is RunStatus.COMPLETED
    assert decision.run.outcome == "rejected_missing_quotes"


def test_pr_below_the_quote_threshold_needs_no_quotes() -> None:
    decision = _start_pr("DE-STR", 4000, quotes=0)
    assert decision.run.active == ("approve_l1",)


def _decide(
    decision: engine.Decision, step: str, outcome: str, actor: str, role: str
) -> engine.Decision:
    template = _templates()["purchase-requisition"]
    task_id = str(decision.run.steps[step].detail["task_id"])
    event = TaskCompleted(step, task_id, actor, outcome, role)
    return engine.advance(template, decision.run, event, NOW)


def test_pr_l3_walks_the_cumulative_ladder_and_creates_the_po() -> None:
    decision = _start_pr("DE-STR", 60000)
    for step, role in (("approve_l1", "CCM"), ("approve_l2", "DH")):
        assert decision.run.active == (step,)
        decision = _decide(decision, step, "approve", f"u-{role}", role)
    assert decision.run.active == ("approve_l3",)
    opened = [c for c in decision.commands if isinstance(c, OpenTask)]
    assert [(c.roles, c.quorum) for c in opened] == [(("PM", "FC"), "all")]
    decision = _decide(decision, "approve_l3", "approve", "u-pm", "PM")
    assert decision.run.active == ("approve_l3",)
    decision = _decide(decision, "approve_l3", "approve", "u-fc", "FC")
    assert decision.run.steps["approve_l4"].status == "skipped"
    assert decision.run.steps["approve_l5"].status == "skipped"
    actions = [c for c in decision.commands if isinstance(c, RunAction)]
    assert [a.action for a in actions] == ["erp.create_purchase_order"]
    template = _templates()["purchase-requisition"]
    attempt = decision.run.steps["create_po"].attempt
    decision = engine.advance(
        template, decision.run, StepSucceeded("create_po", attempt, {"po": "PO-1"}), NOW
    )
    assert decision.run.outcome == "approved"


def test_pr_rejected_at_any_level_ends_rejected() -> None:
    decision = _start_pr("US-GRR", 20000)
    decision = _decide(decision, "approve_l1", "approve", "u-ccm", "CCM")
    decision = _decide(decision, "approve_l2", "reject", "u-dh", "DH")
    assert decision.run.outcome == "rejected"


def test_ie_cor_adds_qa_to_the_first_approval() -> None:
    decision = _start_pr("IE-COR", 1000)
    opened = [c for c in decision.commands if isinstance(c, OpenTask)]
    assert [(c.roles, c.quorum) for c in opened] == [(("CCM", "QA"), "all")]
    decision = _decide(decision, "approve_l1", "approve", "u-ccm", "CCM")
    assert decision.run.active == ("approve_l1",)
    decision = _decide(decision, "approve_l1", "approve", "u-qa", "QA")
    assert decision.run.active == ("create_po",)


def test_de_str_first_approval_is_the_cost_centre_manager_alone() -> None:
    decision = _start_pr("DE-STR", 1000)
    opened = [c for c in decision.commands if isinstance(c, OpenTask)]
    assert [(c.roles, c.quorum) for c in opened] == [(("CCM",), "any")]
