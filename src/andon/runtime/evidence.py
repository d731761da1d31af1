"""The evidence bundle of one run: everything an auditor needs, in one JSON document.

It holds the run and its pinned template, every journal row with its hash, the decisions
with the rows that matched, every approval with who acted in which role and for whom,
every signature with its manifestation (printed name, time, meaning, reason) and record
digest re-checked, refused attempts, and the chain proof: the recomputed chain and the
newest signed checkpoint that covers it, with the public key to check that signature.
"""

from __future__ import annotations

import json

from andon.core.json import JsonObject, JsonValue
from andon.governance import authz, signatures, verification
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.governance.verification import JournalEntry
from andon.runtime.audit import Auditor
from andon.runtime.operations import operation
from andon.runtime.service import Andon
from andon.store.base import JournalRow

FORMAT = "andon.evidence/1"


class Evidence:
    def __init__(self, service: Andon, auditor: Auditor) -> None:
        self.service = service
        self.auditor = auditor

    @operation(Permission.AUDIT_READ)
    def export(self, actor: Actor, run_id: str) -> JsonObject:
        run = self.service.run(actor, run_id)
        authz.require(actor, Permission.AUDIT_READ, run.plant)
        rows = self.service.journal(actor, run_id)
        template = self.service.templates.get(
            actor.tenant_id, run.template_id, run.template_version
        )
        entries = [
            JournalEntry(r.seq, r.type, r.body, list(r.trace), r.actor, r.at, r.hash) for r in rows
        ]
        problem, signed = verification.verify_run(
            actor.tenant_id, run_id, entries, (run.last_seq, run.last_hash)
        )
        return {
            "format": FORMAT,
            "tenant": actor.tenant_id,
            "exported_by": actor.user_id,
            "exported_at": self.service.clock.now().isoformat(),
            "run": {
                "run_id": run.run_id,
                "status": run.status,
                "outcome": run.outcome,
                "plant": run.plant,
                "started_by": run.started_by,
                "created_at": run.created_at,
                "ended_at": run.ended_at,
            },
            "template": {
                "id": template.id,
                "version": template.version,
                "title": template.title,
                "digest": template.digest,
                "overlay_digest": run.overlay_digest,
                "regulated": template.regulated,
                "retention": template.retention,
            },
            "journal": [_journal(r) for r in rows],
            "decisions": _decisions(rows),
            "approvals": _approvals(rows),
            "signatures": _signatures(rows),
            "violations": [
                {"seq": r.seq, "at": r.at, **r.body} for r in rows if r.type == "PolicyViolated"
            ],
            "chain": {
                "verified": problem is None,
                "problem": problem,
                "signatures_checked": signed,
                "head": {"seq": run.last_seq, "hash": run.last_hash},
                "checkpoint": self._checkpoint_of(actor.tenant_id, run_id),
                "public_key": self.auditor.keys.public_pem()
                if self.auditor.keys.public_key() is not None
                else None,
            },
        }

    def _checkpoint_of(self, tenant_id: str, run_id: str) -> JsonValue:
        with self.service.store.reader() as reader:
            found = reader.scoped(tenant_id).audit_chains.checkpoint_of(run_id)
        if found is None:
            return None
        cp = found.stored.checkpoint
        # the whole signed checkpoint, so that verify-bundle can check it offline
        return {
            "checkpoint_id": cp.checkpoint_id,
            "at": cp.at,
            "covers_seq": found.seq,
            "covers_hash": found.hash,
            "key_id": cp.key_id,
            "signature": found.stored.signature,
            "checkpoint_hash": found.stored.stored_hash,
            "previous": cp.previous,
            "heads_digest": cp.heads_digest,
            "heads": [h.as_json() for h in found.stored.heads],
        }


def _journal(row: JournalRow) -> JsonObject:
    return {
        "seq": row.seq,
        "type": row.type,
        "actor": row.actor,
        "at": row.at,
        "body": row.body,
        "trace": list(row.trace),
        "hash": row.hash,
    }


def _decisions(rows: list[JournalRow]) -> list[JsonValue]:
    found: list[JsonValue] = []
    for row in rows:
        for entry in row.trace:
            change = entry.get("change")
            if (change == "decided" and "matched" in entry) or change == "task_opened":
                found.append({"seq": row.seq, "at": row.at, **entry})
    return found


def _approvals(rows: list[JournalRow]) -> list[JsonValue]:
    return [
        {
            "seq": r.seq,
            "at": r.at,
            "step": r.body.get("step"),
            "task_id": r.body.get("task_id"),
            "actor": r.body.get("actor"),
            "role": r.body.get("role"),
            "on_behalf_of": r.body.get("on_behalf_of") or None,
            "outcome": r.body.get("outcome"),
            "comment": r.body.get("comment"),
            "signed": r.body.get("signature") is not None,
        }
        for r in rows
        if r.type == "TaskCompleted"
    ]


def _signatures(rows: list[JournalRow]) -> list[JsonValue]:
    found: list[JsonValue] = []
    previous = None
    for row in rows:
        manifest = row.body.get("signature") if row.type == "TaskCompleted" else None
        if isinstance(manifest, dict) and previous is not None:
            problem = signatures.check(
                manifest,
                run_id=str(manifest.get("run_id")),
                task_id=str(row.body.get("task_id")),
                step=str(row.body.get("step")),
                outcome=str(row.body.get("outcome")),
                signer=str(row.body.get("actor")),
                follows=previous,
            )
            found.append(
                {
                    "seq": row.seq,
                    "printed_name": manifest.get("name"),
                    "user_id": manifest.get("signer"),
                    "signed_at_utc": manifest.get("signed_at"),
                    "meaning": manifest.get("meaning"),
                    "reason": manifest.get("reason"),
                    "method": manifest.get("method"),
                    "record_digest": manifest.get("digest"),
                    "signed_record": {k: v for k, v in manifest.items() if k != "digest"},
                    "valid": problem is None,
                    "problem": problem,
                }
            )
        previous = row.hash
    return found


def dumps(bundle: JsonObject) -> str:
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
