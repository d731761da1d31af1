"""``andon connections`` and ``andon secrets`` as an operator types them (in-process)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from typer.testing import CliRunner, Result

from andon.cli.main import app

TOKEN = "tok-cli-5d0c-never-shown"


def andon(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin, env=env, catch_exceptions=False)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    return result.output


def test_connections_are_set_listed_shown_and_deleted_with_the_secret_from_stdin(
    tmp_path: Path,
) -> None:
    env = {
        "ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}",
        "ANDON_SECRETS_KEY": str(tmp_path / "secrets-key"),
    }
    set_erp = ("connections", "set", "erp", "--kind", "http", "--url", "https://erp.example/api")
    out = ok(andon(env, *set_erp, "--auth", "bearer", "--secret-stdin", stdin=TOKEN + "\n"))
    assert "erp: https://erp.example/api auth bearer, secret set" in out
    mail = ("connections", "set", "mail", "--kind", "smtp", "--host", "mx.example")
    ok(andon(env, *mail, "--from", "andon@plant.example", "--no-starttls", "--timeout", "5"))
    listed = ok(andon(env, "connections", "list"))
    assert "mx.example:25 from andon@plant.example, secret none" in listed
    shown = json.loads(ok(andon(env, "connections", "show", "erp")))
    assert shown["secret"] == "set" and shown["settings"]["auth"] == "bearer"
    refused = andon(env, *set_erp, "--auth", "basic")  # needs a username and a secret
    assert refused.exit_code == 1 and "username is required" in refused.output
    ok(andon(env, "connections", "delete", "mail"))
    assert "mail" not in ok(andon(env, "connections", "list"))

    keys = ok(andon(env, "secrets", "keys")).split()
    first = keys[0]
    assert keys[1:3] == ["sealing", "1"]
    rotated = ok(andon(env, "secrets", "rotate"))
    assert "re-sealed 1 value(s) in connections" in rotated
    assert f"andon secrets retire {first}" in rotated
    ok(andon(env, "secrets", "retire", first))
    again = andon(env, "secrets", "retire", first)
    assert again.exit_code == 1 and f"no secrets key '{first}'" in again.output
    assert "secret set" in ok(andon(env, "connections", "list"))


def test_keys_in_the_environment_rotate_by_changing_the_variable(tmp_path: Path) -> None:
    old, new = (base64.urlsafe_b64encode(os.urandom(32)).decode() for _ in range(2))
    env = {"ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}", "ANDON_SECRETS_KEY": old}
    url = ("--url", "https://erp.example")
    set_erp = ("connections", "set", "erp", "--kind", "http", *url, "--auth", "bearer")
    ok(andon(env, *set_erp, "--secret-stdin", stdin=TOKEN + "\n"))
    (old_id,) = [line.split()[0] for line in ok(andon(env, "secrets", "keys")).splitlines()]
    env["ANDON_SECRETS_KEY"] = f"{new},{old}"
    busy = andon(env, "secrets", "retire", old_id)
    assert busy.exit_code == 1 and "still seals 1 value(s)" in busy.output
    rotated = ok(andon(env, "secrets", "rotate"))
    assert "(newest key of ANDON_SECRETS_KEY)" in rotated
    assert "remove it from ANDON_SECRETS_KEY" in ok(andon(env, "secrets", "retire", old_id))
    env["ANDON_SECRETS_KEY"] = new
    assert "secret set" in ok(andon(env, "connections", "list"))
    assert not [p for p in tmp_path.iterdir() if "secrets" in p.name]
    assert not Path(old).exists() and not Path(new).exists()  # no key file named like a key
