"""URLs, engines and per-connection settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from sipoauth.store import (
    CheckViolation,
    Node,
    Store,
    StoreUnavailable,
    database_url_for,
    normalise_url,
)


def test_database_url_for_is_absolute_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = database_url_for(Path("data"))
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'data' / 'sipoauth.db'}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:////var/lib/x.db", "sqlite+aiosqlite:////var/lib/x.db"),
        ("sqlite+aiosqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("postgresql://u:p@db:5433/sip", "postgresql+psycopg://u:p@db:5433/sip"),
        ("postgres://u@db/sip", "postgresql+psycopg://u@db/sip"),
        ("postgresql+psycopg://u@db/sip", "postgresql+psycopg://u@db/sip"),
        ("postgresql+psycopg_async://u@db/sip", "postgresql+psycopg://u@db/sip"),
    ],
)
def test_normalise_url(given: str, expected: str) -> None:
    assert normalise_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "postgresql+asyncpg://u@h/db", "sqlite://", "sqlite:///:memory:"]
)
def test_normalise_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        normalise_url(url)


async def test_store_url_and_dialect(store: Store, db_url: str) -> None:
    assert store.dialect == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    assert store.url.startswith(
        "sqlite+aiosqlite:///" if store.dialect == "sqlite" else "postgresql+psycopg://"
    )


async def test_store_url_masks_password() -> None:
    store = await Store.open("postgresql://user:secret@db.invalid/sip")
    try:
        assert "secret" not in store.url
        assert "secret" not in repr(store)
    finally:
        await store.close()


async def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    store = await Store.open(database_url_for(tmp_path))
    try:
        async with store.engine.connect() as first, store.engine.connect() as second:
            for conn in (first, second):
                assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
                assert (await conn.scalar(text("PRAGMA foreign_keys"))) == 1
                assert (await conn.scalar(text("PRAGMA busy_timeout"))) == 5000
                assert (await conn.scalar(text("PRAGMA synchronous"))) == 1  # NORMAL
    finally:
        await store.close()


async def test_postgresql_pool_pre_ping() -> None:
    store = await Store.open("postgresql://u@db.invalid/sip")
    try:
        assert store.engine.pool._pre_ping  # type: ignore[attr-defined]
    finally:
        await store.close()


async def test_unreachable_database_is_store_unavailable(tmp_path: Path) -> None:
    for url in (
        f"sqlite+aiosqlite:///{tmp_path}/missing-dir/x.db",
        "postgresql://nobody@127.0.0.1:1/none",
    ):
        store = await Store.open(url)
        try:
            with pytest.raises(StoreUnavailable):
                await store.nodes.list()
            with pytest.raises(StoreUnavailable):
                await store.migrate()
        finally:
            await store.close()


async def test_too_long_value(store: Store) -> None:
    """PostgreSQL enforces column lengths (CheckViolation); SQLite does not, so
    ``admin/`` validates lengths before they get here."""
    node = Node(name="n" * 65, host="h")
    if store.dialect == "postgresql":
        with pytest.raises(CheckViolation):
            await store.nodes.upsert(node)
    else:
        assert (await store.nodes.upsert(node)).name == node.name
