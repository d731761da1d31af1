"""Settings come from ANDON_* variables; every documented one is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon import config
from andon.errors import InputError


def test_every_variable_is_read() -> None:
    settings = config.load(
        {
            "ANDON_DATABASE_URL": "postgresql://andon@db/andon",
            "ANDON_SIGNING_KEY": "/keys/signing-key",
            "ANDON_SECRETS_KEY": "/keys/secrets-key",
            "ANDON_WEBHOOK_ALLOW": "127.0.0.0/8, 10.1.0.0/16",
            "ANDON_ACTIONS": "plant_actions, erp_actions",
            "ANDON_ACTION_TIMEOUT": "45.5",
        }
    )
    assert settings.store.backend == "postgresql"
    assert settings.signing_key_path == Path("/keys/signing-key")
    assert settings.secrets_key_path == Path("/keys/secrets-key")
    assert settings.webhook_allow == ("127.0.0.0/8", "10.1.0.0/16")
    assert settings.action_modules == ("plant_actions", "erp_actions")
    assert settings.action_timeout_s == 45.5


def test_the_secrets_key_lives_beside_a_sqlite_file_the_signing_key_does_not() -> None:
    settings = config.load(
        {"ANDON_DATABASE_URL": "sqlite:///data/plant.db", "XDG_CONFIG_HOME": "/home/op/.config"}
    )
    assert settings.store.backend == "sqlite"
    assert settings.secrets_key_path == Path("data/plant.db.secrets-key")
    assert settings.signing_key_path == Path("/home/op/.config/andon/signing-key")
    log = settings.checkpoint_log_path
    assert log is not None and log.parent == Path("/home/op/.config/andon/checkpoints")
    assert log.name.startswith("plant.db-")


def test_the_audit_anchor_settings_are_read() -> None:
    settings = config.load(
        {
            "ANDON_DATABASE_URL": "postgresql://andon:secret@db/plant",
            "ANDON_CONFIG_DIR": "/etc/andon",
            "ANDON_CHECKPOINT_WITNESS": "https://witness.example/checkpoints",
            "ANDON_ALLOW_KEY_BESIDE_DB": "1",
        }
    )
    assert settings.signing_key_path == Path("/etc/andon/signing-key")
    log = settings.checkpoint_log_path
    assert log is not None and log.parent == Path("/etc/andon/checkpoints")
    assert log.name.startswith("plant-") and "secret" not in str(log)
    assert settings.audit.witness_url == "https://witness.example/checkpoints"
    assert settings.audit.allow_key_beside_db
    assert config.load({"ANDON_CHECKPOINT_LOG": "off"}).checkpoint_log_path is None
    assert config.load({"ANDON_CHECKPOINT_LOG": "/var/log/a.jsonl"}).checkpoint_log_path == Path(
        "/var/log/a.jsonl"
    )
    with pytest.raises(InputError, match="ANDON_ALLOW_KEY_BESIDE_DB must be 0 or 1"):
        config.load({"ANDON_ALLOW_KEY_BESIDE_DB": "yes"})


def test_an_unknown_scheme_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="scheme 'mysql' is not supported"):
        config.load({"ANDON_DATABASE_URL": "mysql://x/y"}).store.sqlite_path  # noqa: B018


def test_the_default_action_timeout_is_the_workers_unless_set() -> None:
    assert config.load({}).action_timeout_s is None  # the worker's own, 300 s
    assert config.load({"ANDON_ACTION_TIMEOUT": " 30 "}).action_timeout_s == 30.0


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan", "5m"])
def test_a_bad_action_timeout_is_refused_by_name(value: str) -> None:
    with pytest.raises(InputError, match="ANDON_ACTION_TIMEOUT must be a number of seconds"):
        config.load({"ANDON_ACTION_TIMEOUT": value})
