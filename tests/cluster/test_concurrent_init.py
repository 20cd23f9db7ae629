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
from pathlib import Path

import pytest

from sipoauth.node import initialise
from sipoauth.store import Store, new_secret

NAMES = ("node1", "node2", "node3", "node4")


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
    await asyncio.gather(*(_init(pg_db_url, tmp_path / n, n, secret) for n in NAMES))

    store = await Store.open(pg_db_url)
    try:
        await store.unlock(secret)
        assert store.unlocked
        roles = sorted(node.role for node in await store.nodes.list())
        assert roles == ["publisher", "subscriber", "subscriber", "subscriber"]
        assert len(await store.keys.active("authz-signing")) == 1
        assert len(await store.keys.active("authz-encryption")) == 1
        assert await store.admins.get("admin") is not None
        # One cluster CA, and every node's certificate issued by it.
        ca = (tmp_path / NAMES[0] / "pki" / "ca.pem").read_bytes()
        for name in NAMES[1:]:
            assert (tmp_path / name / "pki" / "ca.pem").read_bytes() == ca
        trusted = await store.trusted_certs.list("tomcat-trust")
        assert len(trusted) == 1
    finally:
        await store.close()


@pytest.mark.postgresql
async def test_a_second_round_of_concurrent_inits_changes_nothing(
    pg_db_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    await asyncio.gather(*(_init(pg_db_url, tmp_path / n, n, secret) for n in NAMES))
    store = await Store.open(pg_db_url)
    try:
        await store.unlock(secret)
        before = ([k.kid for k in await store.keys.list()], await store.nodes.list())
    finally:
        await store.close()
    await asyncio.gather(*(_init(pg_db_url, tmp_path / n, n, secret) for n in NAMES))
    store = await Store.open(pg_db_url)
    try:
        await store.unlock(secret)
        after = ([k.kid for k in await store.keys.list()], await store.nodes.list())
    finally:
        await store.close()
    assert after == before


async def test_inits_of_one_sqlite_database_at_once_take_turns(tmp_path: Path) -> None:
    """The same on one SQLite file (two ``make run`` started at once)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    secret = new_secret()
    await asyncio.gather(*(_init(url, tmp_path / n, n, secret) for n in NAMES[:3]))
    store = await Store.open(url)
    try:
        roles = sorted(node.role for node in await store.nodes.list())
        assert roles == ["publisher", "subscriber", "subscriber"]
        await store.unlock(secret)
        assert len(await store.keys.active("authz-signing")) == 1
    finally:
        await store.close()
    assert (tmp_path / "shared.db.init-lock").exists()
