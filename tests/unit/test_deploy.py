"""The deployment artefacts stay consistent with the code: every container runs a real
``andon`` command with options it has, reads only settings Andon knows, and probes a path
the API serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer
from ruamel.yaml import YAML

from andon.cli.main import app as cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KNOWN_KINDS = {
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "Secret"),
    ("batch/v1", "Job"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
}
SETTINGS = {"ANDON_DATABASE_URL", "ANDON_SIGNING_KEY", "ANDON_SECRETS_KEY", "ANDON_ACTIONS",
            "ANDON_WEBHOOK_ALLOW", "ANDON_SQLITE_SYNCHRONOUS", "ANDON_USER", "ANDON_TENANT",
            "ANDON_METRICS_TOKEN", "ANDON_METRICS_TOKEN_FILE"}  # fmt: skip
SETTINGS_READERS = ("config.py", "observability/settings.py", "cli/shell.py")


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in YAML(typ="safe").load_all(path.read_text()):
            if doc:
                found.append(doc)
    return found


def containers() -> list[dict[str, Any]]:
    out = []
    for doc in documents():
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        out.extend(pod.get("containers", []))
    return out


def check_command(args: list[str]) -> None:
    """``args`` parse as an andon command line (without running it)."""
    command: Any = typer.main.get_command(cli)
    rest = list(args)
    name = "andon"
    while hasattr(command, "commands"):  # a group: descend into the subcommand
        assert rest and rest[0] in command.commands, f"no andon command {rest[:1]}"
        name, rest = rest[0], rest[1:]
        command = command.commands[name]
    command.make_context(name, rest)  # raises on unknown options or bad values


def test_manifests_are_known_kinds_with_names() -> None:
    docs = documents()
    assert {(d["apiVersion"], d["kind"]) for d in docs} == KNOWN_KINDS
    assert all(d["metadata"]["name"].startswith("andon") for d in docs)


def test_containers_run_real_commands_and_read_known_settings() -> None:
    found = containers()
    assert {c["name"] for c in found} == {"api", "worker", "migrate"}
    for container in found:
        check_command([str(a) for a in container["args"]])
        names = {e["name"] for e in container.get("env", [])}
        assert names <= SETTINGS, names - SETTINGS
        assert "ANDON_DATABASE_URL" in names
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["path"] == "/healthz"


def test_the_settings_names_are_the_ones_config_reads() -> None:
    read: set[str] = set()
    for name in SETTINGS_READERS:
        source = (ROOT / "src" / "andon" / name).read_text()
        read |= set(re.findall(r'"(ANDON_[A-Z_]+)"', source))
    assert read >= SETTINGS, SETTINGS - read


def test_the_image_runs_the_api_by_default() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert entry == ["andon"]
    check_command(cmd)
    assert "uv sync --frozen --no-dev" in text and "USER andon" in text
