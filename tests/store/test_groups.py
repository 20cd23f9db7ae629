"""Revision 0004: CallManager groups, a device's group, the edge's public
address and ports. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from sipoauth.store import (
    ActivationCode,
    AlreadyExists,
    CallManagerGroup,
    Device,
    Edge,
    InvalidReference,
    Line,
    Node,
    NotFound,
    SecurityProfile,
    Store,
    alembic_config,
)

from .conftest import T0, FakeClock

PROFILE = SecurityProfile(name="p", device_type="x")
PHONE = Device(name="SEP001122334455", model="8851", device_type="desk", profile_name="p")
OTHER = Device(name="SEP00112233445A", model="8851", device_type="desk", profile_name="p")
GROUP = CallManagerGroup(name="Sub first", description="subscribers", nodes=("sub2", "pub"))


async def _cluster(store: Store) -> None:
    """A publisher and two subscribers, added out of order."""
    await store.nodes.upsert(Node(name="sub2", host="h2", role="subscriber"))
    await store.nodes.upsert(Node(name="pub", host="h0", role="publisher"))
    await store.nodes.upsert(Node(name="sub1", host="h1", role="subscriber"))


async def test_groups_crud(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    await _cluster(store)
    added = await store.callmanager_groups.add(GROUP)
    assert dataclasses.asdict(added) == {
        **dataclasses.asdict(GROUP),
        "created_at": T0,
        "updated_at": T0,
    }
    assert await store.callmanager_groups.get(GROUP.name) == added
    assert await store.callmanager_groups.get("nope") is None
    with pytest.raises(AlreadyExists):
        await store.callmanager_groups.add(CallManagerGroup(name=GROUP.name, nodes=("sub1",)))
    empty = await store.callmanager_groups.add(CallManagerGroup(name="A empty"))
    assert empty.nodes == ()
    assert [g.name for g in await store.callmanager_groups.list()] == ["A empty", GROUP.name]
    clock.advance(1)
    changed = await store.callmanager_groups.update(
        CallManagerGroup(name=GROUP.name, description="", nodes=("sub1", "sub2", "pub"))
    )
    assert (changed.nodes, changed.description) == (("sub1", "sub2", "pub"), "")
    assert (changed.created_at, changed.updated_at) == (T0, clock.now)
    assert await store.callmanager_groups.get(GROUP.name) == changed
    with pytest.raises(NotFound):
        await store.callmanager_groups.update(CallManagerGroup(name="nope", nodes=("pub",)))
    assert await store.callmanager_groups.delete("A empty") is True
    assert await store.callmanager_groups.delete("A empty") is False
    assert [g.name for g in await store.callmanager_groups.list()] == [GROUP.name]


async def test_members_must_exist_and_differ(store: Store) -> None:
    await _cluster(store)
    with pytest.raises(InvalidReference):
        await store.callmanager_groups.add(CallManagerGroup(name="g", nodes=("pub", "ghost")))
    assert await store.callmanager_groups.get("g") is None  # all or nothing
    with pytest.raises(AlreadyExists):
        await store.callmanager_groups.add(CallManagerGroup(name="g", nodes=("pub", "pub")))
    assert await store.callmanager_groups.get("g") is None
    await store.callmanager_groups.add(GROUP)
    for nodes in (("sub1", "ghost"), ("sub1", "sub1")):
        with pytest.raises((InvalidReference, AlreadyExists)):
            await store.callmanager_groups.update(
                CallManagerGroup(name=GROUP.name, description="x", nodes=nodes)
            )
    kept = await store.callmanager_groups.get(GROUP.name)
    assert kept is not None
    assert (kept.nodes, kept.description) == (GROUP.nodes, GROUP.description)


async def test_device_group_and_usage(store: Store) -> None:
    await _cluster(store)
    await store.profiles.add(PROFILE)
    await store.callmanager_groups.add(GROUP)
    with pytest.raises(InvalidReference):
        await store.devices.add(dataclasses.replace(PHONE, callmanager_group="ghost"))
    phone = await store.devices.add(dataclasses.replace(PHONE, callmanager_group=GROUP.name))
    assert phone.callmanager_group == GROUP.name
    other = await store.devices.add(OTHER)
    assert other.callmanager_group is None
    assert await store.callmanager_groups.devices_using(GROUP.name) == [PHONE.name]
    assert await store.callmanager_groups.usage_counts() == {GROUP.name: 1}
    moved = await store.devices.update(dataclasses.replace(other, callmanager_group=GROUP.name))
    assert moved.callmanager_group == GROUP.name
    assert await store.callmanager_groups.devices_using(GROUP.name) == [PHONE.name, OTHER.name]
    with pytest.raises(InvalidReference):
        await store.callmanager_groups.delete(GROUP.name)
    assert await store.callmanager_groups.get(GROUP.name) is not None
    back = await store.devices.update(dataclasses.replace(moved, callmanager_group=None))
    assert back.callmanager_group is None
    await store.devices.delete(PHONE.name)
    assert await store.callmanager_groups.devices_using(GROUP.name) == []
    assert await store.callmanager_groups.usage_counts() == {}
    assert await store.callmanager_groups.delete(GROUP.name) is True


async def test_update_can_mark_its_devices_reset_required(store: Store) -> None:
    await _cluster(store)
    await store.profiles.add(PROFILE)
    await store.callmanager_groups.add(GROUP)
    await store.devices.add(dataclasses.replace(PHONE, callmanager_group=GROUP.name))
    await store.devices.add(OTHER)
    await store.callmanager_groups.update(dataclasses.replace(GROUP, description="same nodes"))
    assert [d.reset_required for d in await store.devices.list()] == [False, False]
    await store.callmanager_groups.update(
        dataclasses.replace(GROUP, nodes=("pub",)), reset_devices=True
    )
    reset = {d.name: d.reset_required for d in await store.devices.list()}
    assert reset == {PHONE.name: True, OTHER.name: False}


async def test_nodes_for(store: Store) -> None:
    assert await store.callmanager_groups.nodes_for(None) == []
    await _cluster(store)
    default = await store.callmanager_groups.nodes_for(None)
    assert [n.name for n in default] == ["pub", "sub1", "sub2"]
    assert default == await store.nodes.list()
    await store.callmanager_groups.add(GROUP)
    ordered = await store.callmanager_groups.nodes_for(GROUP.name)
    assert [(n.name, n.host, n.role) for n in ordered] == [
        ("sub2", "h2", "subscriber"),
        ("pub", "h0", "publisher"),
    ]
    with pytest.raises(NotFound):
        await store.callmanager_groups.nodes_for("ghost")
    # A deleted server leaves its groups; the others keep their order.
    await store.callmanager_groups.update(dataclasses.replace(GROUP, nodes=("sub2", "sub1", "pub")))
    assert await store.nodes.delete("sub1") is True
    left = await store.callmanager_groups.get(GROUP.name)
    assert left is not None and left.nodes == ("sub2", "pub")
    assert [n.name for n in await store.callmanager_groups.nodes_for(GROUP.name)] == [
        "sub2",
        "pub",
    ]
    await store.callmanager_groups.add(CallManagerGroup(name="none"))
    assert await store.callmanager_groups.nodes_for("none") == []


async def test_edge_public_address(store: Store) -> None:
    plain = await store.edges.add(Edge(address="expc.example.com"))
    assert (plain.public_host, plain.public_sip_port, plain.public_web_port) == (None, 5061, 8443)
    public = Edge(
        address="10.0.0.5",
        public_host="expe.example.com",
        public_sip_port=5062,
        public_web_port=443,
    )
    added = await store.edges.add(public)
    assert (added.public_host, added.public_sip_port, added.public_web_port) == (
        "expe.example.com",
        5062,
        443,
    )
    changed = await store.edges.update(added.id, dataclasses.replace(public, public_host=None))
    assert (changed.public_host, changed.public_sip_port) == (None, 5062)
    assert await store.edges.find("10.0.0.5") == changed


# -- the migration ---------------------------------------------------------------------


def _columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


def _down_to_0003(connection: Connection) -> tuple[set[str], set[str], set[str]]:
    command.downgrade(alembic_config(connection), "0003")
    tables = set(inspect(connection).get_table_names())
    return tables, _columns(connection, "devices"), _columns(connection, "edges")


def _up_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def test_0004_downgrade_keeps_devices_lines_and_codes(store: Store) -> None:
    """On SQLite dropping ``devices.callmanager_group`` copies the table; the
    rows that cascade from it (lines, activation codes) must survive."""
    await _cluster(store)
    await store.profiles.add(PROFILE)
    await store.callmanager_groups.add(GROUP)
    lines = (Line(position=1, dn="1000"), Line(position=2, dn="1001"))
    await store.devices.add(dataclasses.replace(PHONE, callmanager_group=GROUP.name), lines)
    await store.devices.add(OTHER, (Line(position=1, dn="2000"),))
    code = ActivationCode(
        device_name=PHONE.name, code_hash="a" * 64, model="8851", expires_at=T0 + timedelta(1)
    )
    await store.activation_codes.put(code)
    await store.edges.add(Edge(address="expc.example.com", public_host="expe.example.com"))
    async with store.engine.begin() as conn:
        tables, device_columns, edge_columns = await conn.run_sync(_down_to_0003)
    assert not tables & {"callmanager_groups", "callmanager_group_members"}
    assert "callmanager_group" not in device_columns
    assert "reset_required" in device_columns
    assert not edge_columns & {"public_host", "public_sip_port", "public_web_port"}
    async with store.engine.begin() as conn:
        await conn.run_sync(_up_to_head)
    phone = await store.devices.get(PHONE.name)
    assert phone is not None
    assert (phone.lines, phone.callmanager_group) == (lines, None)
    other = await store.devices.get(OTHER.name)
    assert other is not None and other.lines == (Line(position=1, dn="2000"),)
    kept = await store.activation_codes.get(PHONE.name)
    assert kept is not None and kept.code_hash == code.code_hash
    edge = await store.edges.find("expc.example.com")
    assert edge is not None
    assert (edge.public_host, edge.public_sip_port, edge.public_web_port) == (None, 5061, 8443)
    assert await store.callmanager_groups.list() == []
    # The foreign keys to the copied table still hold and cascade.
    with pytest.raises(InvalidReference):
        await store.devices.add(dataclasses.replace(OTHER, name="SEPFF", profile_name="q"))
    assert await store.devices.delete(PHONE.name) is True
    assert await store.activation_codes.get(PHONE.name) is None
