"""Settings, read once from the environment and passed explicitly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from andon.errors import InputError

DEFAULT_DATABASE_URL = "sqlite:///andon.db"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = DEFAULT_DATABASE_URL
    synchronous: str = "FULL"

    @property
    def sqlite_path(self) -> Path:
        """The database file; ``sqlite:///x.db`` is relative, ``sqlite:////abs/x.db`` absolute."""
        if self.url.startswith("sqlite:///"):
            return Path(self.url.removeprefix("sqlite:///"))
        if "://" not in self.url:
            return Path(self.url)
        scheme = self.url.split("://", 1)[0]
        raise InputError(
            f"ANDON_DATABASE_URL scheme '{scheme}' is not supported yet; use sqlite:///FILE"
        )


@dataclass(frozen=True, slots=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    action_modules: tuple[str, ...] = ()
    webhook_allow: tuple[str, ...] = ()
    """Networks (CIDR) outbound webhooks may reach although they are internal."""
    signing_key: Path | None = None
    """The checkpoint-signing key file; by default ``<database>.signing-key`` beside it."""

    @property
    def secrets_key_path(self) -> Path:
        """The key that seals connector secrets at rest: ``<database>.secrets-key``."""
        database = self.store.sqlite_path
        return database.with_name(database.name + ".secrets-key")

    @property
    def signing_key_path(self) -> Path:
        if self.signing_key is not None:
            return self.signing_key
        database = self.store.sqlite_path
        return database.with_name(database.name + ".signing-key")


def load(environ: Mapping[str, str]) -> Settings:
    """Settings from ``ANDON_*`` variables; unset ones keep the single-node defaults."""
    modules = tuple(m.strip() for m in environ.get("ANDON_ACTIONS", "").split(",") if m.strip())
    return Settings(
        store=StoreSettings(
            url=environ.get("ANDON_DATABASE_URL", DEFAULT_DATABASE_URL),
            synchronous=environ.get("ANDON_SQLITE_SYNCHRONOUS", "FULL"),
        ),
        action_modules=modules,
        signing_key=Path(environ["ANDON_SIGNING_KEY"])
        if environ.get("ANDON_SIGNING_KEY")
        else None,
    )
