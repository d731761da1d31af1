"""The semantic diff on the shipped templates and edited copies of them: each kind of change
is found, identical or merely re-spelled versions give an empty diff, and the result reads
the same as JSON and text every time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from andon.core.loader import load_template
from andon.core.overlay import Overlay, digest_of, load_overlay
from andon.core.template import Template
from andon.core.template_diff import Change, Entry, Status, diff_overlays, diff_templates
from andon.errors import InputError

ROOT = Path(__file__).resolve().parents[3] / "templates"


def text(name: str) -> str:
    return (ROOT / f"{name}.yaml").read_text()


def edited(name: str, *swaps: tuple[str, str]) -> Template:
    """Version 2 of a shipped template with each (old, new) text replaced exactly once."""
    source = text(name).replace("version: 1", "version: 2", 1)
    for old, new in swaps:
        assert source.count(old) == 1, f"{old!r} is not unique in {name}"
        source = source.replace(old, new)
    return load_template(source, f"{name}@2")


def overlays(name: str) -> list[Overlay]:
    return [load_overlay(p.read_text()) for p in sorted(ROOT.glob(f"overlays/{name}.*.yaml"))]


def entry(items: tuple[Entry, ...], key: str) -> Entry:
    found = [i for i in items if i.key == key]
    assert len(found) == 1, f"{key} in {[i.key for i in items]}"
    return found[0]


def fields(item: Entry) -> dict[str, tuple[object, object]]:
    return {c.field: (c.old, c.new) for c in item.changes}


@pytest.mark.parametrize(
    "name", ["supplier-ncr", "purchase-requisition", "batch-release", "maintenance-escalation"]
)
def test_a_version_against_itself_is_empty(name: str) -> None:
    template = load_template(text(name))
    diff = diff_templates(template, load_template(text(name)), overlays(name))
    assert diff.empty
    assert diff.render_text() == f"{name} 1 → 1: no semantic changes\n"
    assert diff.to_json()["steps"] == [] and diff.to_json()["empty"] is True


def test_rewording_that_keeps_the_meaning_is_no_change() -> None:
    old = load_template(text("purchase-requisition"))
    new = edited(
        "purchase-requisition",
        # roles, candidate roles and the input's required list in another order
        ("roles: [REQ, CCM, DH, PM, FC, VP, CFO, BU, EHS, QA]",
         "roles: [QA, EHS, BU, CFO, VP, FC, PM, DH, CCM, REQ]"),
        ("roles: [PM, FC]", "roles: [FC, PM]"),
        ("required: [pr_id, requester, cost_center, category, total, quotes]",
         "required: [quotes, total, category, cost_center, requester, pr_id]"),
        # a condition re-spaced, a mapping's keys reordered, a comment and a step title
        ("when: steps.level.output.rank >= 2", "when: 'steps.level.output.rank>=2'"),
        ("      pr_id: input.pr_id\n      cost_center: input.cost_center\n",
         "      cost_center: input.cost_center\n      pr_id: input.pr_id\n"),
        ("title: Check the cost centre's budget", "title: Budget check"),
        ("# Cumulative matrix, first hit wins", "# The matrix: first hit wins"),
        # the explicit form of what falling through already meant
        ("    timeout: 60s\n", "    timeout: 60s\n    next: approved\n"),
    )  # fmt: skip
    diff = diff_templates(old, new, overlays("purchase-requisition"))
    assert diff.empty, diff.render_text()
    assert old.digest != new.digest  # the text did change


def test_step_fields_are_reported_field_by_field_with_their_topic() -> None:
    old = load_template(text("batch-release"))
    new = edited(
        "batch-release",
        ("signature: {meaning: release, reason_required: true}", "signature: release"),
        ("    roles: [QC]\n    due_in: $review_sla", "    roles: [QC, QA]\n    due_in: 1d"),
        ("      - {after: $review_sla, to: $escalation_role}",
         "      - {after: $review_sla, to: $escalation_role}\n      - {after: 3d, to: QP}"),
        ("input: {lot: input.batch, product: input.product, quantity: input.quantity}",
         "input: {lot: input.batch, quantity: input.quantity, site: input.product}"),
        ("    retry: {max_attempts: 5, initial: 5s}\n    timeout: 30s\n    next: released",
         "    retry: {max_attempts: 8, initial: 5s}\n    timeout: 45s\n    next: released"),
    )  # fmt: skip
    diff = diff_templates(old, new)
    assert [s.key for s in diff.steps] == ["production_review", "qc_approval", "disposition",
                                           "release"]  # fmt: skip
    assert all(s.status is Status.CHANGED for s in diff.steps)
    disposition = entry(diff.steps, "disposition")
    assert fields(disposition) == {"signature.reason_required": (True, False)}
    assert disposition.kind == "approval"
    qc = entry(diff.steps, "qc_approval")
    assert fields(qc) == {"roles": (["QC"], ["QC", "QA"]), "due_in": ("$review_sla", "1d")}
    assert [c.topic for c in qc.changes] == ["roles", "sla"]
    ladder = entry(diff.steps, "production_review").changes
    assert ladder == (
        Change("escalate[1].after", None, "3d", "sla"),
        Change("escalate[1].to", None, "QP", "roles"),
    )
    release = fields(entry(diff.steps, "release"))
    assert release == {
        "input.product": ("input.product", None),
        "input.site": (None, "input.product"),
        "retry.max_attempts": (5, 8),
        "timeout": ("30s", "45s"),
    }
    assert "      signature.reason_required: true → false" in diff.render_text()


def test_steps_added_removed_and_rerouted() -> None:
    old = load_template(text("maintenance-escalation"))
    new = edited(
        "maintenance-escalation",
        ("    lookback: 1d\n", "    lookback: 2d\n"),
        ("    on_timeout: call_supervisor\n    next: restored\n",
         "    on_timeout: pause\n    next: restored\n\n"
         "  - id: pause\n    kind: timer\n    duration: 15m\n    next: call_supervisor\n"),
    )  # fmt: skip
    diff = diff_templates(old, new)
    added = entry(diff.steps, "pause")
    assert added.status is Status.ADDED and added.kind == "timer"
    assert fields(added) == {"kind": (None, "timer"), "duration": (None, "15m"),
                             "next": (None, "call_supervisor")}  # fmt: skip
    assert fields(entry(diff.steps, "await_restore")) == {
        "on_timeout": ("call_supervisor", "pause")
    }
    assert any(c.field == "lookback" and (c.old, c.new) == ("1d", "2d")
               for s in diff.steps for c in s.changes)  # fmt: skip
    back = diff_templates(new, old)
    gone = entry(back.steps, "pause")
    assert gone.status is Status.REMOVED and fields(gone)["duration"] == ("15m", None)
    assert "  - pause (timer)\n" in back.render_text()


def test_decision_rows_added_removed_changed_renamed_and_moved() -> None:
    old = load_template(text("supplier-ncr"))
    rows = "      - {id: scrap-low, when: \"input.disposition == 'scrap' && input.value.amount <= params.band_low.amount\", then: {roles: [QE], band: low}}\n"
    new = edited(
        "supplier-ncr",
        (rows, ""),  # scrap-low moves to the end as scrap-small (below)
        ("      - {id: rework-top, when: \"input.disposition == 'rework'\", then: {roles: [QE, ME, PS, FC, PM], band: top}}\n", ""),
        ("then: {roles: [QE, PS], band: mid}}", "then: {roles: [QE, PS, QAM], band: mid}}"),
        ("{id: rtv-low,", "{id: rtv-lowband,"),  # renamed, same content
        ("      - {id: uai-top,", rows.replace("scrap-low", "scrap-small") + "      - {id: uai-top,"),
    )  # fmt: skip
    diff = diff_templates(old, new)
    table = entry(diff.steps, "disposition")
    by_key = {r.key: r for r in table.rows}
    assert by_key["rework-top"].status is Status.REMOVED
    assert fields(by_key["rework-top"])["when"] == ("input.disposition == 'rework'", None)
    assert fields(by_key["scrap-mid"]) == {
        "then": (
            {"roles": ["QE", "PS"], "band": "mid"},
            {"roles": ["QE", "PS", "QAM"], "band": "mid"},
        )
    }
    assert fields(by_key["rtv-lowband"]) == {"id": ("rtv-low", "rtv-lowband")}
    # The moved row is the same row (content first): not added and removed, but its new
    # place in a first-hit table changes which row decides, so the order is reported.
    assert fields(by_key["scrap-small"]) == {"id": ("scrap-low", "scrap-small")}
    assert "scrap-low" not in by_key
    order = fields(table)["rules.order"]
    assert order[0][:2] == ["scrap-small", "scrap-mid"]  # type: ignore[index]
    assert order[1][-2:] == ["scrap-small", "uai-top"]  # type: ignore[index]


def test_a_row_edited_in_place_and_one_added_keep_the_order() -> None:
    old = load_template(text("purchase-requisition"))
    new = edited(
        "purchase-requisition",
        ("then: {level: L2, rank: 2}}", "then: {level: L2, rank: 2, note: dept}}"),
        ("      - {id: l5, when: \"true\", then: {level: L5, rank: 5}}",
         "      - {id: l45, when: \"input.total.amount <= 1000000.0\", then: {level: L4, rank: 4}}\n"
         "      - {id: l5, when: \"true\", then: {level: L5, rank: 5}}"),
    )  # fmt: skip
    level = entry(diff_templates(old, new).steps, "level")
    assert level.changes == ()  # no order change: the rows both have keep theirs
    assert [(r.key, r.status) for r in level.rows] == [
        ("l2", Status.CHANGED),
        ("l45", Status.ADDED),
    ]
    assert fields(level.rows[1])["when"] == (None, "input.total.amount <= 1000000.0")


def test_parameters_roles_triggers_input_duties_and_header() -> None:
    old = load_template(text("batch-release"))
    new = edited(
        "batch-release",
        ("retention: batch-release", "retention: standard"),
        ("roles: [PS, QC, QA, QP]", "roles: [PS, QC, QA, QP, QA2]"),
        ("  conflicting_roles: [[PS, QA], [QC, QA], [PS, QP], [QC, QP]]",
         "  conflicting_roles: [[QA, PS], [QC, QA], [PS, QP]]"),
        ("    default: 5d\n", "    default: 4d\n"),
        ("  escalation_role:\n    type: role\n    default: QA\n    description: Who an overdue review escalates to\n",
         "  hold_limit:\n    type: number\n    default: 3\n"),
        ("    quantity: {type: integer, minimum: 1}", "    quantity: {type: integer, minimum: 10}"),
        ("    batch: {type: string}", "    batch: {type: string}\n    site: {type: string, maxLength: 8}"),
        ("    key: input.batch\n", "    key: input.product\n"),
        ("      - {after: $review_sla, to: $escalation_role}\n", "      - {after: $review_sla, to: QA}\n"),
    )  # fmt: skip
    diff = diff_templates(old, new)
    assert diff.template == (Change("retention", "batch-release", "standard"),)
    assert diff.roles == (Entry("QA2", Status.ADDED),)
    assert diff.duties == (
        Entry("conflicting_roles QC / QP", Status.REMOVED),
    )  # [QA, PS] = [PS, QA]
    assert fields(entry(diff.parameters, "release_sla")) == {"default": ("5d", "4d")}
    assert entry(diff.parameters, "hold_limit").status is Status.ADDED
    assert fields(entry(diff.parameters, "escalation_role")) == {
        "type": ("role", None),
        "default": ("QA", None),
    }
    assert diff.input == (
        Change("properties.quantity.minimum", 1, 10),
        Change("properties.site", None, {"type": "string", "maxLength": 8}),
    )
    assert fields(entry(diff.triggers, "batch.completed")) == {
        "key": ("input.batch", "input.product")
    }
    text_ = diff.render_text()
    assert text_.startswith("batch-release 1 → 2: template ~1; roles +1; parameters +1 -1 ~1;")
    assert '  + properties.site: {"maxLength": 8, "type": "string"}\n' in text_


def test_parameters_per_plant_and_an_overlay_the_new_version_breaks() -> None:
    old = load_template(text("supplier-ncr"))
    new = edited(
        "supplier-ncr",
        ("    default: 3d\n", "    default: 2d\n"),  # mrb_sla, which no plant sets
        ("  currency:\n    type: string\n    default: EUR\n", "  currency:\n    type: number\n    default: 1\n"),
    )  # fmt: skip
    diff = diff_templates(old, new, overlays("supplier-ncr"))
    assert [p.key for p in diff.plants] == ["DE-STR", "IE-COR", "US-GRR"]
    de = entry(diff.plants, "DE-STR")
    assert fields(de)["mrb_sla"] == ("3d", "2d")
    assert "does not fit supplier-ncr@2: parameters.currency:" in de.note
    # Only the plant's own view: a plant that sets the changed parameter keeps its value.
    ie_overlay = next(o for o in overlays("supplier-ncr") if o.plant == "IE-COR")
    pinned = {**ie_overlay.parameters, "mrb_sla": "5d"}
    ie = Overlay("supplier-ncr", "IE-COR", pinned, digest_of("supplier-ncr", "IE-COR", pinned))
    assert "mrb_sla" not in fields(entry(diff_templates(old, new, [ie]).plants, "IE-COR"))


def test_overlay_versions_are_compared_by_parameter_and_by_effective_value() -> None:
    template = load_template(text("supplier-ncr"))
    de = next(o for o in overlays("supplier-ncr") if o.plant == "DE-STR")
    params = {k: v for k, v in de.parameters.items() if k != "band_high"}
    params["band_low"] = {"amount": "1500", "currency": "EUR"}
    params["extra_mrb_roles"] = ["QA"]
    newer = Overlay("supplier-ncr", "DE-STR", params, digest_of("supplier-ncr", "DE-STR", params))
    diff = diff_overlays(de, newer, template)
    assert [(c.field, c.status) for c in diff.parameters] == [
        ("band_high", Status.REMOVED), ("band_low", Status.CHANGED),
        ("extra_mrb_roles", Status.ADDED),
    ]  # fmt: skip
    # band_high dropped from the overlay falls back to the default, which is the same value
    assert [c.field for c in diff.effective] == ["band_low", "extra_mrb_roles"]
    rendered = diff.render_text()
    assert f"supplier-ncr DE-STR overlay {de.digest[:12]} → {newer.digest[:12]}" in rendered
    assert '  ~ band_low: {"amount": "1000", "currency": "EUR"} → {"amount": "1500"' in rendered
    assert diff_overlays(de, de, template).empty
    first = diff_overlays(None, de)
    assert first.old_digest is None and {c.status for c in first.parameters} == {Status.ADDED}


def test_json_is_plain_and_stable() -> None:
    old = load_template(text("supplier-ncr"))
    new = edited("supplier-ncr", ("due_in: 5d", "due_in: 4d"), ("roles: [SQE]", "roles: [SQE, QE]"))
    diff = diff_templates(old, new, overlays("supplier-ncr"))
    encoded = json.dumps(diff.to_json(), sort_keys=False)
    assert encoded == json.dumps(diff_templates(old, new, overlays("supplier-ncr")).to_json())
    body = json.loads(encoded)
    assert body["from"] == {"version": 1, "digest": old.digest}
    step = body["steps"][0]
    assert step["key"] == "review_scar" and step["kind"] == "approval"
    assert step["changes"][1] == {"field": "due_in", "status": "changed", "old": "5d",
                                  "new": "4d", "topic": "sla"}  # fmt: skip


def test_two_different_templates_are_refused() -> None:
    with pytest.raises(InputError, match="cannot diff 'supplier-ncr' with 'batch-release'"):
        diff_templates(load_template(text("supplier-ncr")), load_template(text("batch-release")))
