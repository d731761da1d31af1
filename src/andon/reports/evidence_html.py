"""The evidence bundle as a self-contained HTML page an auditor can read or print.

Every value is escaped; the page loads nothing from elsewhere. Signatures are shown with
their manifestation (21 CFR 11.50): printed name, date and time (UTC) and meaning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from andon.core.json import JsonObject, JsonValue

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:72rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.ok{color:#0a6b2d;font-weight:600}.bad{color:#a40000;font-weight:600}
code{font-size:.8rem;word-break:break-all}.sig{border:2px solid #333;padding:.6rem;margin:.6rem 0}
"""


def render(bundle: JsonObject) -> str:
    run = _obj(bundle.get("run"))
    template = _obj(bundle.get("template"))
    chain = _obj(bundle.get("chain"))
    title = f"Evidence for run {run.get('run_id')}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _table(
            ["Field", "Value"],
            [
                ["Tenant", bundle.get("tenant")],
                [
                    "Template",
                    f"{template.get('id')}@{template.get('version')} — {template.get('title')}",
                ],
                ["Template digest", template.get("digest")],
                ["Plant", run.get("plant") or "—"],
                ["Status / outcome", f"{run.get('status')} / {run.get('outcome') or '—'}"],
                ["Started by", run.get("started_by")],
                ["Started", _time(run.get("created_at"))],
                ["Ended", _time(run.get("ended_at"))],
                ["Regulated", "yes" if template.get("regulated") else "no"],
                ["Retention class", template.get("retention")],
                ["Exported by / at", f"{bundle.get('exported_by')} / {bundle.get('exported_at')}"],
            ],
        ),
        "<h2>Electronic signatures</h2>",
        *[_signature(_obj(sig)) for sig in _list(bundle.get("signatures"))],
        "<h2>Approvals</h2>",
        _table(APPROVALS, [_approval_row(_obj(a)) for a in _list(bundle.get("approvals"))]),
        "<h2>Decisions and routing</h2>",
        _table(DECISIONS, [_decision_row(_obj(d)) for d in _list(bundle.get("decisions"))]),
        "<h2>Refused attempts (segregation of duties)</h2>",
        _table(VIOLATIONS, [_violation_row(_obj(v)) for v in _list(bundle.get("violations"))]),
        "<h2>Chain proof</h2>",
        _chain(chain),
        "<h2>Journal</h2>",
        _table(
            JOURNAL, [_journal_row(_obj(j)) for j in _list(bundle.get("journal"))], raw_last=True
        ),
        "</body></html>\n",
    ]
    return "".join(parts)


APPROVALS = ["Seq", "Time (UTC)", "Step", "Actor", "Role", "For", "Outcome", "Comment", "Signed"]
DECISIONS = ["Seq", "Step", "What", "Rows matched / roles", "Conditions / quorum", "Result"]
VIOLATIONS = ["Seq", "Actor", "Attempted", "Rule", "Message"]
JOURNAL = ["Seq", "Time (UTC)", "Fact", "Actor", "Hash"]


def _approval_row(a: JsonObject) -> list[JsonValue]:
    signed = "yes" if a.get("signed") else "no"
    return [
        a.get("seq"),
        _time(a.get("at")),
        a.get("step"),
        a.get("actor"),
        a.get("role"),
        a.get("on_behalf_of") or "—",
        a.get("outcome"),
        a.get("comment"),
        signed,
    ]


def _decision_row(d: JsonObject) -> list[JsonValue]:
    return [
        d.get("seq"),
        d.get("step"),
        d.get("change"),
        d.get("matched") or d.get("roles"),
        d.get("conditions") or d.get("quorum"),
        d.get("output") or d.get("task_id"),
    ]


def _violation_row(v: JsonObject) -> list[JsonValue]:
    return [v.get("seq"), v.get("actor"), v.get("attempted"), v.get("rule"), v.get("message")]


def _journal_row(j: JsonObject) -> list[JsonValue]:
    code = f"<code>{_e(j.get('hash'))}</code>"
    return [j.get("seq"), _time(j.get("at")), j.get("type"), j.get("actor"), code]


def _signature(sig: JsonObject) -> str:
    status = (
        "<span class='ok'>digest verified</span>"
        if sig.get("valid")
        else f"<span class='bad'>INVALID: {_e(sig.get('problem'))}</span>"
    )
    return (
        "<div class='sig'>"
        f"<strong>{_e(sig.get('printed_name'))}</strong> ({_e(sig.get('user_id'))})<br>"
        f"Signed {_e(sig.get('signed_at_utc'))} UTC — "
        f"meaning: <strong>{_e(sig.get('meaning'))}</strong><br>"
        f"Reason: {_e(sig.get('reason') or '—')} · authenticated by {_e(sig.get('method'))}<br>"
        f"Record digest (SHA-256): <code>{_e(sig.get('record_digest'))}</code> — {status}"
        "</div>"
    )


def _chain(chain: JsonObject) -> str:
    verified = chain.get("verified")
    status = (
        "<span class='ok'>the journal's hash chain recomputes</span>"
        if verified
        else f"<span class='bad'>BROKEN: {_e(chain.get('problem'))}</span>"
    )
    head = _obj(chain.get("head"))
    checkpoint = chain.get("checkpoint")
    lines = [f"<p>{status}; head seq {_e(head.get('seq'))} <code>{_e(head.get('hash'))}</code></p>"]
    if isinstance(checkpoint, dict):
        lines.append(
            f"<p>Covered by signed checkpoint {_e(checkpoint.get('checkpoint_id'))} of "
            f"{_e(_time(checkpoint.get('at')))} up to seq {_e(checkpoint.get('covers_seq'))}, "
            f"key {_e(checkpoint.get('key_id'))}.</p>"
        )
    else:
        lines.append("<p>No signed checkpoint covers this run yet.</p>")
    return "".join(lines)


def _table(head: list[str], rows: list[list[JsonValue]], raw_last: bool = False) -> str:
    if not rows:
        return "<p>None.</p>"
    out = ["<table><tr>", *[f"<th>{_e(h)}</th>" for h in head], "</tr>"]
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            raw = raw_last and index == len(row) - 1 and isinstance(value, str)
            cells.append(f"<td>{value if raw else _e(_text(value))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _time(value: JsonValue) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return "—" if value is None else str(value)


def _text(value: JsonValue) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _obj(value: JsonValue) -> JsonObject:
    return value if isinstance(value, dict) else {}


def _list(value: JsonValue) -> list[JsonValue]:
    return value if isinstance(value, list) else []
