"""Database rows to the dataclasses of ``store.base`` and back to parameter dicts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from andon.core.json import canonical_json
from andon.store.base import (
    AdminRow,
    JournalRow,
    OverlayRow,
    RunRow,
    TaskRow,
    TemplateRow,
    UserRow,
)


def dumps(value: object) -> str:
    """Canonical JSON: sorted keys, no spaces."""
    return canonical_json(value)  # type: ignore[arg-type]


def run_row(row: Mapping[Any, Any]) -> RunRow:
    return RunRow(
        run_id=row["run_id"],
        template_id=row["template_id"],
        template_version=row["template_version"],
        overlay_digest=row["overlay_digest"],
        plant=row["plant"],
        status=row["status"],
        outcome=row["outcome"],
        state=json.loads(row["state"]),
        revision=row["revision"],
        last_seq=row["last_seq"],
        last_hash=row["last_hash"],
        started_by=row["started_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
    )


def task_row(row: Mapping[Any, Any]) -> TaskRow:
    return TaskRow(
        task_id=row["task_id"],
        run_id=row["run_id"],
        step=row["step"],
        title=row["title"],
        plant=row["plant"],
        roles=json.loads(row["roles"]),
        quorum=row["quorum"],
        status=row["status"],
        outcome=row["outcome"],
        level=row["level"],
        escalated_to=json.loads(row["escalated_to"]),
        created_at=row["created_at"],
        due_at=row["due_at"],
        closed_at=row["closed_at"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
    )


def journal_row(row: Mapping[Any, Any]) -> JournalRow:
    return JournalRow(
        run_id=row["run_id"],
        seq=row["seq"],
        type=row["type"],
        body=json.loads(row["body"]),
        trace=json.loads(row["trace"]),
        actor=row["actor"],
        at=row["at"],
        hash=row["hash"],
    )


def template_row(row: Mapping[Any, Any]) -> TemplateRow:
    return TemplateRow(
        row["template_id"],
        row["version"],
        row["digest"],
        row["title"],
        row["source"],
        row["published_at"],
    )


def overlay_row(row: Mapping[Any, Any]) -> OverlayRow:
    return OverlayRow(
        row["digest"], row["template_id"], row["plant"], json.loads(row["params"]), row["source"]
    )


def user_row(row: Mapping[Any, Any]) -> UserRow:
    return UserRow(
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        partner_id=row["partner_id"],
        name=row["name"],
        kind=row["kind"],
        password_hash=row["password_hash"],
        active=bool(row["active"]),
        failed_logins=row["failed_logins"],
        locked_until=row["locked_until"],
        created_at=row["created_at"],
    )


def admin_row(row: Mapping[Any, Any]) -> AdminRow:
    return AdminRow(
        tenant_id=row["tenant_id"],
        seq=row["seq"],
        action=row["action"],
        subject=row["subject"],
        body=json.loads(row["body"]),
        actor=row["actor"],
        at=row["at"],
        hash=row["hash"],
    )
