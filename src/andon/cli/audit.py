"""``andon audit``: verify every chain and checkpoint, take checkpoints, export evidence."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, err, fail, out, read_text, session
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
    trusted: Annotated[
        Path | None,
        typer.Option("--trusted", help="A trusted copy of the checkpoint log (JSON lines)."),
    ] = None,
    trusted_digest: Annotated[
        str | None,
        typer.Option("--trusted-digest", help="The hash of a checkpoint known to be genuine."),
    ] = None,
) -> None:
    """Recompute every hash chain and signed checkpoint, compare them with the checkpoint
    log outside the database (and a trusted copy or digest); name the first broken link."""
    from andon.runtime import checkpoint_log
    from andon.runtime.audit import Trusted

    pem = read_text(public_key) if public_key else None
    if trusted_digest is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", trusted_digest):
        fail(f"--trusted-digest must be 64 hexadecimal digits, not {trusted_digest!r}")
    with session() as built:
        entries = checkpoint_log.read(trusted) if trusted else ()
        source = f"the trusted log {trusted}" if trusted else ""
        anchor = Trusted(entries, source, trusted_digest or "")
        report = built.auditor.verify(tenant, pem, anchor)
    summary = (
        f"{report.runs} runs, {report.journal_rows} journal rows, {report.signatures} "
        f"signatures, {report.admin_rows} administrative acts, {report.checkpoints} checkpoints"
    )
    for note in report.notes:
        err.print(f"NOTE {note}", markup=False)
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


@audit_app.command("verify-bundle")
def verify_bundle(
    path: Annotated[Path, typer.Argument(help="A bundle folder (every *.evidence.json) or file.")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="Trusted public key (PEM) to check with.")
    ],
) -> None:
    """Check evidence bundles offline, without the database: each run's chain, its
    signatures and the signed checkpoint that covers it."""
    import json

    from andon.governance import bundle
    from andon.runtime.keys import load_public_key

    try:
        key = load_public_key(read_text(public_key))
    except ValueError as exc:
        fail(f"{public_key} is not an Ed25519 public key in PEM: {exc}")
    files = sorted(path.glob("*.evidence.json")) if path.is_dir() else [path]
    if not files:
        fail(f"no *.evidence.json bundle in {path}")
    broken = 0
    for file in files:
        try:
            problems = bundle.verify(json.loads(read_text(file)), key)
        except json.JSONDecodeError as exc:
            problems = [f"not JSON: {exc.msg} at line {exc.lineno}"]
        for problem in problems:
            out.print(f"BROKEN {file.name}: {problem}", markup=False)
        if problems:
            broken += 1
        else:
            out.print(f"verified: {file.name}", markup=False)
    if broken:
        fail(f"{broken} of {len(files)} bundle(s) do not verify")


@audit_app.command("log")
def log(user: AsUser = LOCAL_ADMIN, tenant: InTenant = DEFAULT_TENANT) -> None:
    """The tenant's chain of administrative acts."""
    with session() as built:
        for entry in built.directory.admin_log(built.actor(user, tenant)):
            out.print(
                f"{entry.seq:>5} {entry.action:<22} {entry.subject:<30} by {entry.actor}",
                markup=False,
            )
