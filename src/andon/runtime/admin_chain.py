"""Appending to a tenant's chain of administrative acts, inside the act's transaction."""

from __future__ import annotations

from andon.core.json import JsonObject
from andon.governance import audit
from andon.store.transaction import SqlTransaction


def record(
    tx: SqlTransaction, action: str, subject: str, body: JsonObject, actor: str, at: float
) -> int:
    """Chain one act (``tx`` is scoped to the tenant); returns its sequence number.

    The transaction holds the write lock, so reading the head and appending cannot race.
    """
    last = tx.last_admin()
    seq, previous = (last[0] + 1, last[1]) if last else (1, audit.GENESIS)
    digest = audit.chain_hash(
        previous, audit.admin_record(tx.tenant, seq, action, subject, body, actor, at)
    )
    tx.insert_admin(seq, action, subject, body, actor, at, digest)
    return seq
