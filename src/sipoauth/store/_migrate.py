"""Running the Alembic migrations shipped in ``migrations/``, from code.

``upgrade`` is blocking: the Store runs it in a worker thread, on a sync engine
for the same database. The whole upgrade is one transaction:

- PostgreSQL has transactional DDL; the transaction first takes an advisory
  lock (``pg_advisory_xact_lock``, released at commit or rollback), so nodes
  starting together migrate one after the other, the later ones finding the
  database at head and doing nothing.
- SQLite runs it under ``BEGIN IMMEDIATE`` (the write lock), which serialises
  two processes the same way; SQLite DDL is transactional too.

Within one process, upgrades also take a thread lock: Alembic keeps the
running migration context in module globals (``alembic.op``, ``alembic.context``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine

from ._urls import WRITE_OPTION, make_sync_engine

__all__ = ["MIGRATIONS_DIR", "MIGRATION_LOCK_KEY", "alembic_config", "head_revision", "upgrade"]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory, inside the package."""

MIGRATION_LOCK_KEY: Final = int.from_bytes(b"sipoauth", "big")
"""PostgreSQL advisory lock key held while migrating ("sipoauth" as a bigint)."""


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for our scripts, built in code (no alembic.ini).

    With ``connection``, ``env.py`` migrates on it; with ``url`` (and no
    connection), offline commands such as ``upgrade --sql`` render for it.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of sipoauth."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None when never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


_PROCESS_LOCK = threading.Lock()


def upgrade(url: URL, *, busy_timeout_ms: int) -> None:
    """Bring the database at ``url`` to the head revision (blocking; idempotent)."""
    engine = make_sync_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        with _PROCESS_LOCK:
            _upgrade(engine)
    finally:
        engine.dispose()


def _upgrade(engine: Engine) -> None:
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        command.upgrade(alembic_config(connection), "head")
