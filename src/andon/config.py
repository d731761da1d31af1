"""Settings, read once from the environment and passed explicitly."""

from __future__ import annotations

import hashlib
import math
import os
import re
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


def _config_dir(environ: Mapping[str, str]) -> Path:
    """Where an installation's own files live, apart from its database: ``ANDON_CONFIG_DIR``,
    else ``$XDG_CONFIG_HOME/andon``, else ``~/.config/andon``."""
    if environ.get("ANDON_CONFIG_DIR"):
        return Path(environ["ANDON_CONFIG_DIR"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "andon"


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Where the audit anchor lives outside the database (docs/adr/0025-audit-anchor.md)."""

    config_dir: Path = field(default_factory=lambda: _config_dir(os.environ))
    """The signing key and the checkpoint logs live here by default."""
    checkpoint_log: Path | None = None
    """The append-only log of signed checkpoints; by default one per database in
    ``<config_dir>/checkpoints``."""
    log_enabled: bool = True
    witness_url: str = ""
    """When set, every new checkpoint is also POSTed here (an external witness)."""
    allow_key_beside_db: bool = False
    """Accept a signing key in the SQLite database's own folder (off: refused)."""


@dataclass(frozen=True, slots=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    action_modules: tuple[str, ...] = ()
    webhook_allow: tuple[str, ...] = ()
    """Networks (CIDR) outbound webhooks may reach although they are internal."""
    signing_key: Path | None = None
    """The checkpoint-signing key file; by default ``<config_dir>/signing-key``, never
    beside the database unless allowed (AuditSettings)."""

    secrets_key: Path | None = None
    """The key that seals connector secrets; by default ``<database>.secrets-key``."""

    audit: AuditSettings = field(default_factory=AuditSettings)

    action_timeout_s: float | None = None
    """Seconds an action step without a timeout of its own may run before it is abandoned
    and recorded as timed out (ANDON_ACTION_TIMEOUT); None: the worker's default, 300."""

    @property
    def secrets_key_path(self) -> Path:
        return self.secrets_key or self._beside_database("secrets-key")

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key or self.audit.config_dir / "signing-key"

    @property
    def legacy_signing_key_path(self) -> Path:
        """Where releases before the audit anchor kept the key: beside the database."""
        return self._beside_database("signing-key")

    @property
    def database_dir(self) -> Path | None:
        """The folder of a SQLite database (None for a server)."""
        if self.store.backend != "sqlite":
            return None
        return self.store.sqlite_path.resolve().parent

    @property
    def checkpoint_log_path(self) -> Path | None:
        """The external checkpoint log (None when switched off): by default named after the
        database and a digest of where it is, so each database has its own."""
        if not self.audit.log_enabled:
            return None
        if self.audit.checkpoint_log is not None:
            return self.audit.checkpoint_log
        if self.store.backend == "sqlite":
            where = str(self.store.sqlite_path.resolve())
            name = self.store.sqlite_path.name
        else:  # the server and database, without credentials
            where = re.sub(r"//[^@/]*@", "//", self.store.url)
            name = where.rsplit("/", 1)[-1].split("?")[0] or "andon"
        digest = hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]
        return self.audit.config_dir / "checkpoints" / f"{name}-{digest}.jsonl"

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
        audit=_audit(environ),
        action_timeout_s=_seconds(environ, "ANDON_ACTION_TIMEOUT"),
    )


def _audit(environ: Mapping[str, str]) -> AuditSettings:
    log = environ.get("ANDON_CHECKPOINT_LOG", "")
    allow = environ.get("ANDON_ALLOW_KEY_BESIDE_DB", "")
    if allow not in ("", "0", "1"):
        raise InputError(f"ANDON_ALLOW_KEY_BESIDE_DB must be 0 or 1, not {allow!r}")
    return AuditSettings(
        config_dir=_config_dir(environ),
        checkpoint_log=Path(log) if log and log != "off" else None,
        log_enabled=log != "off",
        witness_url=environ.get("ANDON_CHECKPOINT_WITNESS", ""),
        allow_key_beside_db=allow == "1",
    )


def _seconds(environ: Mapping[str, str], name: str) -> float | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"{name} must be a number of seconds above 0 (e.g. 300), not {value!r}")
    return seconds


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InputError(f"{name} must be 1 or 0, got {value!r}")
