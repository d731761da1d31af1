"""Signing with a second identification component through the directory's hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.errors import GovernanceError
from andon.runtime.clock import ManualClock
from andon.testing import T0, person


class OneTimeCodes:
    """A stand-in authenticator app: each user has one valid code."""

    name = "totp"

    def __init__(self, codes: dict[str, str]) -> None:
        self.codes = codes

    def verify(self, user_id: str, code: str) -> bool:
        return self.codes.get(user_id) == code


def test_signing_needs_both_components_when_a_second_factor_is_configured(
    tmp_path: Path,
) -> None:
    app = bootstrap.build(
        Settings(store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}")),
        clock=ManualClock(T0),
        second_factor=OneTimeCodes({"qa1": "492817"}),
    )
    try:
        qa = person(app, "qa1", "QA", password="the right password")
        with pytest.raises(GovernanceError, match="re-authentication"):
            app.directory.authenticate(qa, "the right password")  # no code
        with pytest.raises(GovernanceError, match="re-authentication"):
            app.directory.authenticate(qa, "the right password", "000000")
        with pytest.raises(GovernanceError, match="re-authentication"):
            app.directory.authenticate(qa, "wrong password", "492817")
        assert app.directory.authenticate(qa, "the right password", "492817") == "password+totp"
    finally:
        app.close()
