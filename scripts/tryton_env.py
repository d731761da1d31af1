#!/usr/bin/env python3
"""Build the Tryton ERP test peer: a private venv and a template database with base data.

Tryton is GPL and never imported by Andon, so it lives in its own venv under ``.tryton/``
and is driven over JSON-RPC only. Building the database costs over a minute, so it is done
once; tests copy ``template/andon.sqlite`` and start a server on the copy. Re-running is a
no-op while the marker matches; a changed package or module list rebuilds. Stdlib only.

    python3 scripts/tryton_env.py [--dir .tryton] [--force]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "trytond>=8.2,<8.3",
    "trytond-purchase>=8.2,<8.3",
    "trytond-purchase-request>=8.2,<8.3",
    "trytond-purchase-requisition>=8.2,<8.3",
    "trytond-stock>=8.2,<8.3",
    "trytond-stock-lot>=8.2,<8.3",
    "proteus>=8.2,<8.3",
)
# Their dependencies (purchase, company, currency, party, product, account...) are
# activated by --activate-dependencies.
MODULES = ("purchase_requisition", "stock_lot")
DATABASE = "andon"
# Bump when BASE_DATA changes so existing templates are rebuilt.
DATA_VERSION = 1

# Run by the tryton venv's Python through proteus (in-process trytond, no server needed).
# It creates what a purchase requisition needs and the "andon" integration user, then
# prints the facts tests need as one JSON line.
BASE_DATA = r"""
import json, os, sys
from decimal import Decimal
from proteus import Model, config as pconfig

conf_path, login = sys.argv[1:3]
password = os.environ["ANDON_TRYTON_NEW_PASSWORD"]  # not argv: ps would show it
cfg = pconfig.set_trytond(database="andon", config_file=conf_path)

Currency = Model.get("currency.currency")
eur = Currency(name="Euro", code="EUR", symbol="€", rounding=Decimal("0.01"), digits=2)
eur.save()
usd = Currency(name="US Dollar", code="USD", symbol="$", rounding=Decimal("0.01"), digits=2)
usd.save()

Party = Model.get("party.party")
company_party = Party(name="Andon Test Plant")
company_party.save()
Company = Model.get("company.company")
company = Company(party=company_party, currency=eur)
company.save()

Employee = Model.get("company.employee")
requester_party = Party(name="Ada Requester")
requester_party.save()
requester = Employee(party=requester_party, company=company)
requester.save()

User = Model.get("res.user")
admin = User(cfg.user)
admin.companies.append(Company(company.id))
admin.company = company
admin.employees.append(Employee(requester.id))
admin.employee = requester
admin.save()
cfg._context = User.get_preferences(True, cfg.context)

Group = Model.get("res.group")
ModelData = Model.get("ir.model.data")
def group(module, fs_id):
    return Group(ModelData.get_id(module, fs_id, {}))

andon = User(name="Andon Integration", login=login, password=password)
for module, fs_id in (
    ("purchase_requisition", "group_purchase_requisition"),
    ("purchase_requisition", "group_purchase_requisition_approval"),
    ("purchase_request", "group_purchase_request"),
    ("purchase", "group_purchase"),
):
    andon.groups.append(group(module, fs_id))
andon.companies.append(Company(company.id))
andon.company = Company(company.id)
andon.employees.append(Employee(requester.id))
andon.employee = Employee(requester.id)
andon.save()

supplier = Party(name="Acme Fasteners")
supplier.save()

Uom = Model.get("product.uom")
unit, = Uom.find([("name", "=", "Unit")])
Template = Model.get("product.template")
template = Template(
    name="Hex bolt M8", code="BOLT-M8", type="goods", purchasable=True,
    default_uom=unit, purchase_uom=unit, list_price=Decimal("0.20"),
)
template.save()

Location = Model.get("stock.location")
warehouse, = Location.find([("type", "=", "warehouse")])

print(json.dumps({
    "company": company.id,
    "currency": "EUR",
    "requester": requester_party.name,
    "supplier": supplier.name,
    "product_code": "BOLT-M8",
    "product_id": template.products[0].id,
    "warehouse": warehouse.code,
}))
"""


def log(message: str) -> None:
    print(f"[tryton_env] {message}", flush=True)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> str:
    started = time.monotonic()
    result = subprocess.run(
        [str(c) for c in cmd], check=False, capture_output=True, text=True, env=env, input=stdin
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"[tryton_env] failed ({result.returncode}): {Path(str(cmd[0])).name}")
    log(f"{' '.join(str(c) for c in cmd[:3])[:100]}: {time.monotonic() - started:.1f}s")
    return result.stdout


def find_uv() -> Path | None:
    for candidate in (REPO / ".venv" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def ensure_venv(venv: Path) -> None:
    """(Re)create the venv when the package list changed since the last install."""
    marker = venv / "andon-packages.json"
    wanted = json.dumps(PACKAGES)
    if marker.exists() and marker.read_text() == wanted:
        log(f"venv up to date: {venv}")
        return
    shutil.rmtree(venv, ignore_errors=True)
    uv = find_uv()
    if uv is not None:
        run([sys.executable, "-m", "venv", "--without-pip", venv])
        run([uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", *PACKAGES])
    else:
        run([sys.executable, "-m", "venv", venv])
        run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", *PACKAGES])
    marker.write_text(wanted)


def template_marker(venv: Path) -> dict[str, object]:
    trytond_version = run(
        [venv / "bin" / "python", "-c", "import trytond; print(trytond.__version__)"]
    ).strip()
    return {
        "trytond": trytond_version,
        "packages": list(PACKAGES),
        "modules": list(MODULES),
        "data_version": DATA_VERSION,
    }


def write_conf(path: Path, db_dir: Path) -> None:
    path.write_text(f"[database]\nuri = sqlite://\npath = {db_dir}\n")


def build_template(venv: Path, template: Path, marker: dict[str, object]) -> None:
    """Build into a scratch directory, then swap it in, so a crash leaves no half template."""
    work = Path(tempfile.mkdtemp(prefix="template-", dir=template.parent))
    try:
        conf = work / "trytond.conf"
        write_conf(conf, work)
        (work / f"{DATABASE}.sqlite").touch()  # trytond's SQLite backend won't create it
        admin_password = secrets.token_urlsafe(18)
        password = secrets.token_urlsafe(18)
        passfile = work / "admin-password"
        passfile.write_text(admin_password)
        env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
        run(
            [
                # Through the venv's python: console-script shebangs break if the repo moves.
                venv / "bin" / "python",
                venv / "bin" / "trytond-admin",
                "-c",
                conf,
                "-d",
                DATABASE,
                "--all",
                "-u",
                *MODULES,
                "--activate-dependencies",
                "--email",
                "admin@andon.invalid",
            ],
            env=env,
        )
        out = run(
            [venv / "bin" / "python", "-", conf, "andon"],
            env={**os.environ, "ANDON_TRYTON_NEW_PASSWORD": password},
            stdin=BASE_DATA,
        )
        facts = json.loads(out.strip().splitlines()[-1])
        info = {
            "database": DATABASE,
            "login": "andon",
            "password": password,
            "admin_login": "admin",
            "admin_password": admin_password,
            **facts,
        }
        (work / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        (work / "marker.json").write_text(json.dumps(marker, indent=2) + "\n")
        conf.unlink()
        passfile.unlink()
        work.chmod(0o755)  # mkdtemp made it private
        shutil.rmtree(template, ignore_errors=True)
        work.rename(template)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Serialise concurrent builders (two pytest runs starting at once)."""
    directory.mkdir(parents=True, exist_ok=True)
    # Keeps the venv out of git even before the root .gitignore lists .tryton/.
    (directory / ".gitignore").write_text("*\n")
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(directory: Path, *, force: bool = False) -> Path:
    """Make sure venv and template exist; return the template directory."""
    started = time.monotonic()
    venv, template = directory / "venv", directory / "template"
    with locked(directory):
        ensure_venv(venv)
        marker = template_marker(venv)
        current = template / "marker.json"
        if not force and current.exists() and json.loads(current.read_text()) == marker:
            log(f"template up to date: {template / (DATABASE + '.sqlite')}")
        else:
            build_template(venv, template, marker)
            log(f"template built: {template / (DATABASE + '.sqlite')}")
    log(f"total {time.monotonic() - started:.1f}s")
    return template


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO / ".tryton", help="default: .tryton")
    parser.add_argument("--force", action="store_true", help="rebuild the template")
    args = parser.parse_args(argv)
    ensure(args.dir.resolve(), force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
