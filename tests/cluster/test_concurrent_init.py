"""Nodes initialising one empty database at the same moment (issue 8).

Configuration management provisions a cluster by making the secret once,
copying it to every machine and running ``sipoauth init --cluster-secret-file``
on all of them at once. Each init reads what the database has ("no server
yet", "no signing key yet", "no cluster CA yet") and creates what is missing;
run concurrently, several used to find the database empty and each make its
own publisher, keys and CA. ``initialise`` now holds the store's init lock (a
PostgreSQL advisory lock; ``flock`` beside a SQLite database) from the
migration to the end, so the nodes take turns and exactly one of each exists.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipoauth.node import initialise
from sipoauth.store import Store, new_secret

NAMES = ("node1", "node2", "node3", "node4")


@contextlib.asynccontextmanager
async def _opened(url: str, secret: bytes) -> AsyncIterator[Store]:
    """The database, unlocked with the cluster's secret (keys are sealed)."""
    store = await Store.open(url)
    try:
        await store.unlock(secret)
        assert store.unlocked
        yield store
    finally:
        await store.close()


async def _init_all(url: str, tmp_path: Path, names: tuple[str, ...], secret: bytes) -> None:
    await asyncio.gather(*(_init(url, tmp_path / n, n, secret) for n in names))


async def _init(url: str, data_dir: Path, name: str, secret: bytes) -> None:
    store = await Store.open(url)
    try:
        await initialise(
            store,
            data_dir=data_dir,
            hostname=f"{name}.example.com",
            node_name=name,
            admin_password="correct horse battery",
            cluster_secret=secret,
        )
    finally:
        await store.close()


@pytest.mark.postgresql
async def test_nodes_initialising_an_empty_database_at_once_make_one_of_everything(
    pg_db_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    await _init_all(pg_db_url, tmp_path, NAMES, secret)

    async with _opened(pg_db_url, secret) as store:
        roles = sorted(node.role for node in await store.nodes.list())
        assert roles == ["publisher", "subscriber", "subscriber", "subscriber"]
        assert len(await store.keys.active("authz-signing")) == 1
        assert len(await store.keys.active("authz-encryption")) == 1
        assert await store.admins.get("admin") is not None
        assert len(await store.trusted_certs.list("tomcat-trust")) == 1
    # One cluster CA, and every node's certificate issued by it.
    ca = (tmp_path / NAMES[0] / "pki" / "ca.pem").read_bytes()
    for name in NAMES[1:]:
        assert (tmp_path / name / "pki" / "ca.pem").read_bytes() == ca


@pytest.mark.postgresql
async def test_a_second_round_of_concurrent_inits_changes_nothing(
    pg_db_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    await _init_all(pg_db_url, tmp_path, NAMES, secret)
    async with _opened(pg_db_url, secret) as store:
        before = ([k.kid for k in await store.keys.list()], await store.nodes.list())
    await _init_all(pg_db_url, tmp_path, NAMES, secret)
    async with _opened(pg_db_url, secret) as store:
        after = ([k.kid for k in await store.keys.list()], await store.nodes.list())
    assert after == before


async def test_inits_of_one_sqlite_database_at_once_take_turns(tmp_path: Path) -> None:
    """The same on one SQLite file (two ``make run`` started at once)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    secret = new_secret()
    await _init_all(url, tmp_path, NAMES[:3], secret)
    async with _opened(url, secret) as store:
        roles = sorted(node.role for node in await store.nodes.list())
        assert roles == ["publisher", "subscriber", "subscriber"]
        assert len(await store.keys.active("authz-signing")) == 1
    assert (tmp_path / "shared.db.init-lock").exists()
