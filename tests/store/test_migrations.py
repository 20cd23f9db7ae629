"""Migrations: idempotent, concurrent-safe, and in step with the models."""

from __future__ import annotations

import asyncio
import io
import sys
from contextlib import redirect_stdout
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, inspect
from sqlalchemy.engine import Connection

from sipoauth.store import Key, Node, Store, alembic_config, head_revision
from sipoauth.store._migrate import MIGRATIONS_DIR
from sipoauth.store._models import metadata

TABLES = {
    "settings",
    "nodes",
    "keys",
    "admins",
    "security_profiles",
    "devices",
    "lines",
    "edges",
    "grants",
    "trusted_certs",
    "registrations",
    "change_log",
    "users",
    "authorization_codes",
    "refresh_tokens",
    "activation_codes",
    "audit_log",
    "mra_domains",
    "node_services",
    "service_commands",
    "admin_tokens",
    "callmanager_groups",
    "callmanager_group_members",
    "pki_identities",
}
OAUTH_TABLES = {"users", "authorization_codes", "refresh_tokens", "activation_codes"}
"""Added by revision 0002."""
ADMIN_TABLES = {"audit_log", "mra_domains", "node_services", "service_commands", "admin_tokens"}
"""Added by revision 0003."""
GROUP_TABLES = {"callmanager_groups", "callmanager_group_members"}
"""Added by revision 0004."""
PKI_TABLES = {"pki_identities"}
"""Added by revision 0005."""


def _diff(connection: Connection, target: MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, target))


def test_scripts_ship_inside_the_package() -> None:
    assert MIGRATIONS_DIR.parent.name == "store"
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert head_revision() == "0005"


async def test_migrate_creates_schema_at_head(store: Store) -> None:
    assert await store.revision() == head_revision()
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert names == TABLES | {"alembic_version"}


async def test_unmigrated_database_has_no_revision(db_url: str) -> None:
    store = await Store.open(db_url)
    try:
        assert await store.revision() is None
    finally:
        await store.close()


async def test_migrate_twice_is_a_no_op(store: Store) -> None:
    await store.nodes.upsert(Node(name="n1", host="h1"))
    await store.migrate()
    assert await store.revision() == head_revision()
    assert [n.name for n in await store.nodes.list()] == ["n1"]


async def test_models_match_migrations(store: Store) -> None:
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_diff, metadata) == []


async def test_comparison_sees_drift(store: Store) -> None:
    """The check above is not vacuous: a model change without migration shows."""
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["nodes"].append_column(Column("extra", Integer, nullable=True))
    drifted.tables["devices"].c.model.type = String(99)
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(_diff, drifted)
    kinds = {entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in diff}
    assert "add_column" in kinds
    assert "modify_type" in kinds


async def test_concurrent_migrate_from_two_stores(db_url: str) -> None:
    first, second = await Store.open(db_url), await Store.open(db_url)
    try:
        await asyncio.gather(first.migrate(), second.migrate(), first.migrate())
        assert await first.revision() == head_revision()
        assert await second.revision() == head_revision()
        await first.nodes.upsert(Node(name="n1", host="h1"))
        assert [n.name for n in await second.nodes.list()] == ["n1"]
    finally:
        await first.close()
        await second.close()


MIGRATE_IN_CHILD = """
import asyncio, sys
from sipoauth.store import Store

async def main() -> None:
    store = await Store.open(sys.argv[1])
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        await store.migrate()
    finally:
        await store.close()

asyncio.run(main())
"""


async def test_concurrent_migrate_from_two_processes(db_url: str) -> None:
    """Two nodes starting at once: the database lock (PostgreSQL advisory lock,
    SQLite BEGIN IMMEDIATE) serialises them; both end at head."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MIGRATE_IN_CHILD,
            db_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for child in children:  # both imported and connected: start together
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"ready"
    results = await asyncio.gather(*(child.communicate(b"go\n") for child in children))
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err.decode()
    store = await Store.open(db_url)
    try:
        assert await store.revision() == head_revision()
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff, metadata) == []
    finally:
        await store.close()


def _downgrade_then_upgrade(connection: Connection) -> tuple[set[str], list[Any]]:
    """Down to 0001 and back to head; the tables at 0001, and the drift after."""
    command.downgrade(alembic_config(connection), "0001")
    at_0001 = set(inspect(connection).get_table_names())
    command.upgrade(alembic_config(connection), "head")
    return at_0001, _diff(connection, metadata)


async def test_downgrade_and_upgrade_again(store: Store) -> None:
    """Every revision's downgrade undoes its upgrade, data of 0001 kept."""
    await store.nodes.upsert(Node(name="n1", host="h1"))
    await store.grants.create("g1", "alice", "csf", user_id="alice")
    await store.keys.add(Key(kid="a1", purpose="activation-code", alg="HS256", material="x"))
    async with store.engine.begin() as conn:
        at_0001, drift = await conn.run_sync(_downgrade_then_upgrade)
    later = OAUTH_TABLES | ADMIN_TABLES | GROUP_TABLES | PKI_TABLES
    assert at_0001 == TABLES - later | {"alembic_version"}
    assert drift == []
    assert await store.revision() == head_revision()
    assert [n.name for n in await store.nodes.list()] == ["n1"]
    grant = await store.grants.get("g1")
    assert grant is not None
    assert grant.user_id is None  # the column was dropped and added back
    assert await store.keys.get("a1") is None  # not allowed at 0001: deleted
    await store.keys.add(Key(kid="a2", purpose="activation-code", alg="HS256", material="x"))


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:////tmp/x.db", "postgresql+psycopg://u@localhost/sip"]
)
def test_offline_sql(url: str) -> None:
    """``upgrade --sql`` renders the schema without a database (for DBAs)."""
    out = io.StringIO()
    with redirect_stdout(out):
        command.upgrade(alembic_config(url=url), "head", sql=True)
    script = out.getvalue()
    assert "CREATE TABLE devices" in script
    assert "ck_nodes_role" in script
    assert "CREATE TABLE activation_codes" in script
    assert "activation-code" in script  # the widened ck_keys_purpose
    assert "CREATE TABLE node_services" in script
    assert "INSERT INTO node_services" in script  # restart pending moved (0003)
    assert "CREATE TABLE callmanager_group_members" in script
    assert "REFERENCES callmanager_groups" in script  # devices.callmanager_group (0004)
    assert "CREATE TABLE pki_identities" in script  # the cluster's certificates (0005)
