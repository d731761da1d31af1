"""The audit trail: verify the tenant's chains, export a run's evidence bundle."""

from __future__ import annotations

from fastapi import APIRouter

from andon.api.models import VerifyOut
from andon.api.problems import responses
from andon.api.security import Andon, Caller
from andon.governance.authz import Permission, require

router = APIRouter()


@router.get("/v1/audit/verify", response_model=VerifyOut, tags=["audit"],
            responses=responses(401, 403))  # fmt: skip
def verify(andon: Andon, who: Caller) -> VerifyOut:
    """Recompute the tenant's chains and every checkpoint; the first broken links, if any."""
    require(who, Permission.AUDIT_READ)
    report = andon.auditor.verify(who.tenant_id)
    return VerifyOut(ok=report.ok, runs=report.runs, journal_rows=report.journal_rows,
                     signatures=report.signatures, admin_rows=report.admin_rows,
                     checkpoints=report.checkpoints, problems=report.problems)  # fmt: skip


@router.get("/v1/runs/{run_id}/evidence", tags=["audit"], responses=responses(401, 403, 404))
def evidence(run_id: str, andon: Andon, who: Caller) -> dict[str, object]:
    """The run's evidence bundle (journal, decisions, signatures, chain proof)."""
    return dict(andon.evidence.export(who, run_id))
