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
        }
    )
    assert settings.store.backend == "postgresql"
    assert settings.signing_key_path == Path("/keys/signing-key")
    assert settings.secrets_key_path == Path("/keys/secrets-key")
    assert settings.webhook_allow == ("127.0.0.0/8", "10.1.0.0/16")
    assert settings.action_modules == ("plant_actions", "erp_actions")


def test_keys_live_beside_a_sqlite_file_by_default() -> None:
    settings = config.load({"ANDON_DATABASE_URL": "sqlite:///data/plant.db"})
    assert settings.store.backend == "sqlite"
    assert settings.signing_key_path == Path("data/plant.db.signing-key")
    assert settings.secrets_key_path == Path("data/plant.db.secrets-key")


def test_an_unknown_scheme_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="scheme 'mysql' is not supported"):
        config.load({"ANDON_DATABASE_URL": "mysql://x/y"}).store.sqlite_path  # noqa: B018
