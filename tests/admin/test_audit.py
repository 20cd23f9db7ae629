"""The audit log (issue 4 point 12): who, when, what, from which interface."""

from __future__ import annotations

import asyncio

import pytest

from sipoauth import admin
from sipoauth.admin import Actor, acting_as, current_actor
from sipoauth.store import Store


def test_actor_defaults_to_system_and_nests() -> None:
    assert current_actor() == Actor("system", "system")
    with acting_as(Actor("alice", "cli")) as actor:
        assert actor == current_actor() == Actor("alice", "cli")
        with acting_as(Actor("bob", "api")):
            assert current_actor() == Actor("bob", "api")
        assert current_actor() == Actor("alice", "cli")
    assert current_actor() == Actor("system", "system")


async def test_concurrent_tasks_keep_their_own_actor() -> None:
    async def who(name: str) -> str:
        with acting_as(Actor(name, "api")):
            await asyncio.sleep(0)
            return current_actor().name

    assert await asyncio.gather(who("a"), who("b")) == ["a", "b"]


async def test_audit_writes_the_current_actor(store: Store) -> None:
    await admin.audit(store, "update", "parameter", "x", {"new": 1})
    with acting_as(Actor("alice", "web")):
        await admin.audit(store, "delete", "server", "sub1")
    rows = await admin.list_audit(store)
    assert [(r.actor, r.interface, r.action, r.object_id) for r in rows] == [
        ("alice", "web", "delete", "sub1"),
        ("system", "system", "update", "x"),
    ]
    assert rows[1].detail == {"new": 1}
    assert [r.object_id for r in await admin.list_audit(store, actor="alice")] == ["sub1"]


@pytest.mark.parametrize(
    "detail",
    [
        {"password": "x"},
        {"Code": "1234"},
        {"token": "t"},
        {"key": "k"},
        {"secret": "s"},
        {"new_password": "x"},
        {"activation_code": "1"},
        {"refresh-token": "r"},
        {"private.key": "k"},
        {"nested": {"secret": "s"}},
        {"items": [{"token": "t"}]},
    ],
)
async def test_audit_refuses_secrets(store: Store, detail: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="secret"):
        await admin.audit(store, "update", "x", "y", detail)  # type: ignore[arg-type]
    assert await admin.list_audit(store) == []


async def test_audit_allows_named_safe_fields(store: Store) -> None:
    await admin.audit(store, "regenerate", "key", "signing", {"kid": "k1", "key_hash": "ab"})
    assert len(await admin.list_audit(store)) == 1
