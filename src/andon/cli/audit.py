"""``andon audit``: verify every chain and checkpoint, take checkpoints, export evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, fail, out, read_text, session
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant's chains (default: all).")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="Trusted public key (PEM) to check with.")
    ] = None,
) -> None:
    """Recompute every hash chain and signed checkpoint; name the first broken link."""
    pem = read_text(public_key) if public_key else None
    with session() as built:
        report = built.auditor.verify(tenant, pem)
    summary = (
        f"{report.runs} runs, {report.journal_rows} journal rows, {report.signatures} "
        f"signatures, {report.admin_rows} administrative acts, {report.checkpoints} checkpoints"
    )
    if report.ok:
        out.print(f"verified: {summary}", markup=False)
        return
    for problem in report.problems:
        out.print(f"BROKEN {problem}", markup=False)
    fail(f"{len(report.problems)} broken chain(s) in {summary}")


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Sign the current heads of every chain that moved since the last checkpoint."""
    with session() as built:
        cp = built.auditor.checkpoint()
    if cp is None:
        out.print("nothing moved since the last checkpoint", markup=False)
    else:
        out.print(
            f"checkpoint {cp.checkpoint_id}: {cp.heads} head(s), key {cp.key_id}", markup=False
        )


@audit_app.command("public-key")
def public_key() -> None:
    """Print the public key that verifies checkpoints (give it to auditors)."""
    with session() as built:
        out.print(built.auditor.keys.public_pem(), markup=False, end="")


@audit_app.command("export")
def export(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the bundle.")] = Path("."),
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Write the run's evidence bundle: RUN.evidence.json and a readable RUN.evidence.html."""
    from andon.reports import evidence_html
    from andon.runtime.evidence import dumps

    with session() as built:
        bundle = built.evidence.export(built.actor(user, tenant), run_id)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path = out_dir / f"{run_id}.evidence.json"
        html_path = out_dir / f"{run_id}.evidence.html"
        json_path.write_text(dumps(bundle), "utf-8")
        html_path.write_text(evidence_html.render(bundle), "utf-8")
    except OSError as exc:
        fail(f"cannot write the evidence bundle to {out_dir}: {exc.strerror}")
    out.print(f"wrote {json_path} and {html_path}", markup=False)


@audit_app.command("log")
def log(user: AsUser = LOCAL_ADMIN, tenant: InTenant = DEFAULT_TENANT) -> None:
    """The tenant's chain of administrative acts."""
    with session() as built:
        for entry in built.directory.admin_log(built.actor(user, tenant)):
            out.print(
                f"{entry.seq:>5} {entry.action:<22} {entry.subject:<30} by {entry.actor}",
                markup=False,
            )
