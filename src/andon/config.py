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
    """SQLite's ``PRAGMA synchronous`` (ANDON_SQLITE_SYNCHRONOUS); below FULL is logged."""

    allow_async_commit: bool = False
    """Run on a PostgreSQL with ``synchronous_commit=off`` (ANDON_ALLOW_ASYNC_COMMIT=1)."""

    @property
    def backend(self) -> str:
        """``sqlite`` (a file, the embedded default) or ``postgresql`` (a server)."""
        scheme = self.url.split("://", 1)[0] if "://" in self.url else "sqlite"
        if scheme.startswith("postgresql") or scheme == "postgres":
            return "postgresql"
        return "sqlite"

    @property
    def sqlite_path(self) -> Path:
        """The database file; ``sqlite:///x.db`` is relative, ``sqlite:////abs/x.db`` absolute."""
        if self.url.startswith("sqlite:///"):
            return Path(self.url.removeprefix("sqlite:///"))
        if "://" not in self.url:
            return Path(self.url)
        scheme = self.url.split("://", 1)[0]
        raise InputError(
            f"ANDON_DATABASE_URL scheme '{scheme}' is not supported; use sqlite:///FILE "
            "or postgresql://USER@HOST/DB"
        )


@dataclass(frozen=True, slots=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    action_modules: tuple[str, ...] = ()
    webhook_allow: tuple[str, ...] = ()
    """Networks (CIDR) outbound webhooks may reach although they are internal."""
    signing_key: Path | None = None
    """The checkpoint-signing key file; by default ``<database>.signing-key`` beside it."""

    secrets_key: Path | None = None
    """The key that seals connector secrets; by default ``<database>.secrets-key``."""

    @property
    def secrets_key_path(self) -> Path:
        return self.secrets_key or self._beside_database("secrets-key")

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key or self._beside_database("signing-key")

    def _beside_database(self, suffix: str) -> Path:
        """Beside a SQLite file; for a server, in the working directory (mount it there,
        or set ANDON_SIGNING_KEY / ANDON_SECRETS_KEY)."""
        if self.store.backend == "sqlite":
            database = self.store.sqlite_path
            return database.with_name(f"{database.name}.{suffix}")
        return Path(f"andon.{suffix}")


def load(environ: Mapping[str, str]) -> Settings:
    """Settings from ``ANDON_*`` variables; unset ones keep the single-node defaults."""
    modules = tuple(m.strip() for m in environ.get("ANDON_ACTIONS", "").split(",") if m.strip())
    return Settings(
        store=StoreSettings(
            url=environ.get("ANDON_DATABASE_URL", DEFAULT_DATABASE_URL),
            synchronous=environ.get("ANDON_SQLITE_SYNCHRONOUS", "FULL"),
            allow_async_commit=_flag(environ, "ANDON_ALLOW_ASYNC_COMMIT"),
        ),
        action_modules=modules,
        signing_key=_path(environ.get("ANDON_SIGNING_KEY")),
        secrets_key=_path(environ.get("ANDON_SECRETS_KEY")),
        webhook_allow=tuple(
            n.strip() for n in environ.get("ANDON_WEBHOOK_ALLOW", "").split(",") if n.strip()
        ),
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InputError(f"{name} must be 1 or 0, got {value!r}")
