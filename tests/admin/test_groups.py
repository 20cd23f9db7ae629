"""CallManager groups: every rule, every refusal leaving the store as it was,
the phones of a changed group marked for reset, the audit rows and the
``config`` notifications; a phone's group; a server in a group kept."""

from __future__ import annotations

import asyncio

import pytest

from sipoauth import admin
from sipoauth.store import Store, Subscription

from ._state import snapshot

PUB = "cucm-pub"
SUB1 = "cucm-sub1"
SUB2 = "cucm-sub2"
PHONE = "SEP001122334455"
PHONE2 = "SEP0011223344AA"
SOFT = "CSFALICE"
GROUP = "Subscribers first"


async def _take(sub: Subscription, count: int, timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


@pytest.fixture
async def cluster(store: Store) -> Store:
    await admin.add_server(store, PUB, "10.0.0.1", "publisher")
    await admin.add_server(store, SUB2, "10.0.0.3")
    await admin.add_server(store, SUB1, "10.0.0.2")
    await admin.ensure_default_profiles(store)
    return store


async def _reset_required(store: Store) -> dict[str, bool]:
    return {d.name: d.reset_required for d in await store.devices.list()}


async def test_add_get_find_update_delete(cluster: Store) -> None:
    store = cluster
    async with store.listen("config") as changes:
        added = await admin.add_group(
            store, name=GROUP, nodes=[SUB1, f" {SUB2} ", PUB], description="failover to pub"
        )
        assert await _take(changes, 1) == [f"callmanager group {GROUP}"]
    assert (added.name, added.nodes, added.description) == (
        GROUP,
        (SUB1, SUB2, PUB),
        "failover to pub",
    )
    await admin.add_group(store, name="Lab", nodes=[SUB2])
    assert await admin.get_group(store, GROUP) == added
    assert [g.name for g in await admin.find_groups(store)] == ["Lab", GROUP]
    assert [g.name for g in await admin.find_groups(store, "FAILOVER")] == [GROUP]
    assert [g.name for g in await admin.find_groups(store, "sub2")] == ["Lab", GROUP]
    assert [g.name for g in await admin.find_groups(store, "lab")] == ["Lab"]
    assert await admin.find_groups(store, "nowhere") == []
    changed = await admin.update_group(store, GROUP, nodes=[PUB, SUB1])
    assert (changed.nodes, changed.description) == ((PUB, SUB1), "failover to pub")
    described = await admin.update_group(store, GROUP, description="")
    assert (described.nodes, described.description) == ((PUB, SUB1), "")
    await admin.delete_group(store, "Lab")
    assert [g.name for g in await admin.find_groups(store)] == [GROUP]
    rows = await admin.list_audit(store, object_type="callmanager-group")
    assert [(r.action, r.object_id) for r in reversed(rows)] == [
        ("add", GROUP),
        ("add", "Lab"),
        ("update", GROUP),
        ("update", GROUP),
        ("delete", "Lab"),
    ]
    assert rows[-1].detail == {"description": "failover to pub", "nodes": [SUB1, SUB2, PUB]}
    assert rows[2].detail == {
        "nodes": {"old": [SUB1, SUB2, PUB], "new": [PUB, SUB1]},
        "phones_reset_required": 0,
    }
    assert rows[1].detail == {"description": {"old": "failover to pub", "new": ""}}


async def test_update_without_change_writes_nothing(cluster: Store) -> None:
    added = await admin.add_group(cluster, name=GROUP, nodes=[SUB1, PUB])
    before = await snapshot(cluster)
    assert await admin.update_group(cluster, GROUP, nodes=[SUB1, PUB], description="") == added
    assert await admin.update_group(cluster, GROUP) == added
    assert await snapshot(cluster) == before


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"name": ""}, admin.InvalidValue, "1-128 characters"),
        ({"name": "x" * 129}, admin.InvalidValue, "1-128 characters"),
        ({"name": " padded"}, admin.InvalidValue, "leading or trailing"),
        ({"name": "tab\tname"}, admin.InvalidValue, "no control characters"),
        ({"name": "Default"}, admin.InvalidValue, "every server of the cluster"),
        ({"name": "default"}, admin.InvalidValue, "every server of the cluster"),
        ({"description": "x" * 513}, admin.InvalidValue, "at most 512"),
        ({"description": "two\nlines"}, admin.InvalidValue, "one line"),
        ({"nodes": []}, admin.InvalidValue, "1 to 16 servers"),
        ({"nodes": [f"n{i}" for i in range(17)]}, admin.InvalidValue, "1 to 16 servers"),
        ({"nodes": [SUB1, PUB, SUB1]}, admin.InvalidValue, f"'{SUB1}' appears twice"),
        ({"nodes": [SUB1, "ghost"]}, admin.NotFound, "server 'ghost' is not configured"),
        ({"name": "Taken"}, admin.Conflict, "exists already"),
    ],
)  # fmt: skip
async def test_add_refusals_change_nothing(
    cluster: Store, fields: dict[str, object], error: type[admin.AdminError], match: str
) -> None:
    await admin.add_group(cluster, name="Taken", nodes=[PUB])
    before = await snapshot(cluster)
    wanted: dict[str, object] = {"name": GROUP, "nodes": [SUB1, PUB]}
    with pytest.raises(error, match=match):
        await admin.add_group(cluster, **(wanted | fields))  # type: ignore[arg-type]
    assert await snapshot(cluster) == before


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"description": "x" * 513}, admin.InvalidValue, "at most 512"),
        ({"nodes": []}, admin.InvalidValue, "1 to 16 servers"),
        ({"nodes": [PUB, PUB]}, admin.InvalidValue, "appears twice"),
        ({"nodes": ["ghost"], "description": "new"}, admin.NotFound, "'ghost' is not configured"),
    ],
)  # fmt: skip
async def test_update_refusals_change_nothing(
    cluster: Store, fields: dict[str, object], error: type[admin.AdminError], match: str
) -> None:
    await admin.add_group(cluster, name=GROUP, nodes=[SUB1, PUB])
    await admin.add_device(cluster, name=PHONE, model="8851", lines=[], callmanager_group=GROUP)
    before = await snapshot(cluster)
    with pytest.raises(error, match=match):
        await admin.update_group(cluster, GROUP, **fields)  # type: ignore[arg-type]
    assert await snapshot(cluster) == before


async def test_unknown_groups(cluster: Store) -> None:
    before = await snapshot(cluster)
    with pytest.raises(admin.NotFound, match="'Nope' does not exist"):
        await admin.get_group(cluster, "Nope")
    with pytest.raises(admin.NotFound):
        await admin.update_group(cluster, "Nope", description="x")
    with pytest.raises(admin.NotFound):
        await admin.delete_group(cluster, "Nope")
    with pytest.raises(admin.NotFound):
        await admin.group_nodes(cluster, "Nope")
    assert await snapshot(cluster) == before


async def test_new_servers_reset_the_groups_phones(cluster: Store) -> None:
    store = cluster
    await admin.add_group(store, name=GROUP, nodes=[SUB1, PUB])
    await admin.add_group(store, name="Other", nodes=[PUB])
    await admin.add_device(store, name=PHONE, model="8851", lines=[], callmanager_group=GROUP)
    await admin.add_device(store, name=PHONE2, model="8851", lines=[], callmanager_group="Other")
    await admin.add_device(store, name=SOFT, model="CSF", lines=[])
    await admin.update_group(store, GROUP, description="only the description")
    assert await _reset_required(store) == {PHONE: False, PHONE2: False, SOFT: False}
    async with store.listen("config") as changes:
        await admin.update_group(store, GROUP, nodes=[PUB, SUB1])  # the order is the list
        assert await _take(changes, 1) == [f"callmanager group {GROUP}"]
    assert await _reset_required(store) == {PHONE: True, PHONE2: False, SOFT: False}
    row = (await admin.list_audit(store, object_type="callmanager-group"))[0]
    assert row.detail["phones_reset_required"] == 1


async def test_a_group_in_use_is_not_deleted(cluster: Store) -> None:
    store = cluster
    await admin.add_group(store, name=GROUP, nodes=[PUB])
    names = [f"SEP0000000000{i:02X}" for i in range(12)]
    for name in names:
        await admin.add_device(store, name=name, model="8851", lines=[], callmanager_group=GROUP)
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match=f"group of {names[0]}, .* and 2 more") as caught:
        await admin.delete_group(store, GROUP)
    assert names[9] in caught.value.message and names[10] not in caught.value.message
    assert await snapshot(store) == before
    for name in names:
        await admin.update_device(store, name, callmanager_group="Default")
    await admin.delete_group(store, GROUP)
    assert await admin.find_groups(store) == []


async def test_phone_group(cluster: Store) -> None:
    store = cluster
    await admin.add_group(store, name=GROUP, nodes=[SUB2, PUB])
    phone = await admin.add_device(
        store, name=PHONE, model="8851", lines=["1000"], callmanager_group=GROUP
    )
    assert phone.callmanager_group == GROUP
    row = (await admin.list_audit(store, object_id=PHONE))[0]
    assert row.detail["callmanager_group"] == GROUP
    default = await admin.add_device(
        store, name=PHONE2, model="8851", lines=[], callmanager_group="DEFAULT"
    )
    assert default.callmanager_group is None
    before = await snapshot(store)
    with pytest.raises(admin.NotFound, match="CallManager group 'Nope' does not exist"):
        await admin.add_device(store, name=SOFT, model="CSF", lines=[], callmanager_group="Nope")
    with pytest.raises(admin.NotFound, match="CallManager group 'Nope' does not exist"):
        await admin.update_device(store, PHONE, callmanager_group="Nope")
    assert await snapshot(store) == before
    async with store.listen("config") as changes:
        moved = await admin.update_device(store, PHONE2, callmanager_group=f" {GROUP} ")
        assert await _take(changes, 1) == [f"device {PHONE2}"]
    assert (moved.callmanager_group, moved.reset_required) == (GROUP, True)
    back = await admin.update_device(store, PHONE, callmanager_group=None)
    assert (back.callmanager_group, back.reset_required) == (None, True)
    row = (await admin.list_audit(store, object_id=PHONE))[0]
    assert row.detail == {"callmanager_group": {"old": GROUP, "new": None}}
    same = await admin.update_device(store, PHONE, callmanager_group="default")
    assert same == back  # already the Default group: nothing written


async def test_group_nodes(cluster: Store) -> None:
    store = cluster
    default = [n.name for n in await admin.group_nodes(store, None)]
    assert default == [PUB, SUB1, SUB2]  # publisher first, then by name
    assert [n.name for n in await admin.group_nodes(store, "Default")] == default
    await admin.add_group(store, name=GROUP, nodes=[SUB2, PUB])
    ordered = await admin.group_nodes(store, GROUP)
    assert [(n.name, n.host) for n in ordered] == [(SUB2, "10.0.0.3"), (PUB, "10.0.0.1")]
    assert await admin.group_usage(store) == {}
    await admin.add_device(store, name=PHONE, model="8851", lines=[], callmanager_group=GROUP)
    assert await admin.group_usage(store) == {GROUP: 1}


async def test_a_server_in_a_group_is_not_deleted(cluster: Store) -> None:
    store = cluster
    await admin.add_group(store, name=GROUP, nodes=[SUB2, PUB])
    await admin.add_group(store, name="Also", nodes=[SUB2])
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match=f"in CallManager group\\(s\\) Also, {GROUP}"):
        await admin.delete_server(store, SUB2, node_name=PUB)
    assert await snapshot(store) == before
    await admin.delete_server(store, SUB1, node_name=PUB)  # in no group
    await admin.update_group(store, GROUP, nodes=[PUB])
    await admin.delete_group(store, "Also")
    await admin.delete_server(store, SUB2, node_name=PUB)
    assert [s.name for s in await admin.list_servers(store)] == [PUB]
