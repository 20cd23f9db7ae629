"""Database URLs and engines: which driver, and the per-connection settings.

Two databases are supported (DESIGN "One node, one process"):

- SQLite through aiosqlite, the embedded default: one file in the data
  directory, WAL journal so the admin CLI (another process) can read and write
  while the node runs.
- PostgreSQL through psycopg 3, shared by the nodes of a cluster.

SQLite transaction control is taken over from the sqlite3 driver (which, in its
legacy mode, does not BEGIN before a SELECT and so is not serialisable): the
driver is put in autocommit and SQLAlchemy emits ``BEGIN`` itself — ``BEGIN
IMMEDIATE`` for write transactions, so that a transaction that reads and then
writes takes the write lock up front and waits ``busy_timeout`` for it instead
of failing with "database is locked" when another process wrote in between.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = [
    "DATABASE_FILE",
    "WRITE_OPTION",
    "database_url_for",
    "make_async_engine",
    "make_sync_engine",
    "normalise_url",
]

DATABASE_FILE: Final = "sipoauth.db"
"""File name of the embedded database inside the data directory."""

WRITE_OPTION: Final = "sipoauth_write"
"""Execution option marking a connection whose transaction will write."""

_SQLITE_ASYNC = "sqlite+aiosqlite"
_SQLITE_SYNC = "sqlite+pysqlite"
_POSTGRES = "postgresql+psycopg"
_ALIASES: Final = {
    "sqlite": _SQLITE_ASYNC,
    "sqlite+pysqlite": _SQLITE_ASYNC,
    "sqlite+aiosqlite": _SQLITE_ASYNC,
    "postgres": _POSTGRES,
    "postgresql": _POSTGRES,
    "postgresql+psycopg": _POSTGRES,
    "postgresql+psycopg_async": _POSTGRES,
}


def database_url_for(data_dir: Path) -> str:
    """URL of the embedded SQLite database kept in ``data_dir``."""
    return f"{_SQLITE_ASYNC}:///{data_dir.resolve() / DATABASE_FILE}"


def normalise_url(url: str | URL) -> URL:
    """Parse ``url`` and pin the driver this package uses for its database.

    ``sqlite:///…`` becomes ``sqlite+aiosqlite:///…``; ``postgresql://…``,
    ``postgres://…`` and ``postgresql+psycopg://…`` become
    ``postgresql+psycopg://…``. Any other database or driver is refused with
    :class:`ValueError`, as is an in-memory SQLite database (each connection
    would see a different, empty database).
    """
    parsed = make_url(url)
    driver = _ALIASES.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:///<file> or postgresql://…"
        )
    if driver == _SQLITE_ASYNC and parsed.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite database cannot be shared: give a file path")
    return parsed.set(drivername=driver)


def _enable_wal(cursor: Any, *, wait_s: float) -> None:
    """Switch the database file to WAL (persistent: once per file).

    Changing the journal mode needs the database to itself, and SQLite answers
    "database is locked" at once, without the busy handler, when another
    connection is in the middle of creating it. Retried for ``wait_s`` seconds:
    only the migration engine (in a worker thread) waits; the application's
    engine finds the file already in WAL, as ``Store.migrate`` ran first.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int, *, wal_wait_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: we emit BEGIN ourselves (module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                _enable_wal(cursor, wait_s=wal_wait_s)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_async_engine(url: URL, *, busy_timeout_ms: int = 5000) -> AsyncEngine:
    """The application's engine for ``url`` (already normalised)."""
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})
        _install_sqlite_hooks(engine.sync_engine, busy_timeout_ms, wal_wait_s=0)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def make_sync_engine(url: URL, *, busy_timeout_ms: int = 5000) -> Engine:
    """A blocking engine on the same database, for Alembic (run in a thread)."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url.set(drivername=_SQLITE_SYNC),
            connect_args={"timeout": busy_timeout_ms / 1000},
        )
        _install_sqlite_hooks(engine, busy_timeout_ms, wal_wait_s=busy_timeout_ms / 1000)
        return engine
    return create_engine(url, pool_pre_ping=True)
