"""Settings and nodes."""

from __future__ import annotations

import dataclasses

import pytest

from sipoauth.store import CheckViolation, Node, Store

from .conftest import T0, FakeClock


async def test_settings_get_set(store: Store) -> None:
    assert await store.settings.get("oauth.refresh_login_flow") is None
    assert await store.settings.get("oauth.refresh_login_flow", False) is False
    await store.settings.set("oauth.refresh_login_flow", True)
    assert await store.settings.get("oauth.refresh_login_flow", False) is True
    await store.settings.set("oauth.refresh_login_flow", False)
    assert await store.settings.get("oauth.refresh_login_flow") is False


async def test_settings_json_values_round_trip(store: Store) -> None:
    values = {
        "a.int": 60,
        "a.float": 1.5,
        "a.str": "ccmsipline",
        "a.list": [1, "two", None],
        "a.obj": {"nested": {"x": [True]}},
        "a.null": None,
    }
    await store.settings.set_many(values)
    assert await store.settings.get_many() == values
    assert await store.settings.get_many(["a.int", "a.null", "missing"]) == {
        "a.int": 60,
        "a.null": None,
    }
    # A stored JSON null is a value, not "unset": the default is not used.
    assert await store.settings.get("a.null", "default") is None


async def test_settings_set_many_is_atomic(store: Store) -> None:
    await store.settings.set("kept", 1)
    with pytest.raises(TypeError):
        await store.settings.set_many({"kept": 2, "bad": object()})  # type: ignore[dict-item]
    assert await store.settings.get_many() == {"kept": 1}


async def test_settings_delete(store: Store) -> None:
    await store.settings.set("k", "v")
    assert await store.settings.delete("k") is True
    assert await store.settings.delete("k") is False
    assert await store.settings.get("k", "d") == "d"


async def test_node_upsert_defaults_and_get(clocked_store: Store, clock: FakeClock) -> None:
    node = await clocked_store.nodes.upsert(Node(name="cucm-pub", host="10.0.0.1"))
    assert (node.role, node.sip_port, node.secure_sip_port) == ("publisher", 5060, 5061)
    assert (node.oauth_port, node.mra_port, node.web_port) == (5090, 5091, 8443)
    assert (node.tftp_port, node.tftp_secure_port) == (6970, 6971)
    assert node.created_at == node.updated_at == T0
    assert await clocked_store.nodes.get("cucm-pub") == node
    assert await clocked_store.nodes.get("nope") is None


async def test_node_upsert_replaces_by_name(clocked_store: Store, clock: FakeClock) -> None:
    first = await clocked_store.nodes.upsert(Node(name="n1", host="h1"))
    clock.advance(60)
    changed = await clocked_store.nodes.upsert(dataclasses.replace(first, oauth_port=6090))
    assert changed.id == first.id
    assert changed.oauth_port == 6090
    assert changed.created_at == T0
    assert changed.updated_at == clock.now
    assert len(await clocked_store.nodes.list()) == 1


async def test_node_list_publisher_first(store: Store) -> None:
    await store.nodes.upsert(Node(name="a-sub", host="h2", role="subscriber"))
    await store.nodes.upsert(Node(name="z-pub", host="h1", role="publisher"))
    await store.nodes.upsert(Node(name="b-sub", host="h3", role="subscriber"))
    assert [n.name for n in await store.nodes.list()] == ["z-pub", "a-sub", "b-sub"]


async def test_node_delete(store: Store) -> None:
    await store.nodes.upsert(Node(name="n1", host="h1"))
    assert await store.nodes.delete("n1") is True
    assert await store.nodes.delete("n1") is False
    assert await store.nodes.list() == []


async def test_node_role_is_checked(store: Store) -> None:
    with pytest.raises(CheckViolation) as caught:
        await store.nodes.upsert(Node(name="n1", host="h1", role="boss"))  # type: ignore[arg-type]
    assert caught.value.constraint == "ck_nodes_role"
    assert await store.nodes.list() == []
