"""Keys and administrators."""

from __future__ import annotations

import pytest

from sipoauth.store import AlreadyExists, CheckViolation, Key, NotFound, Store

from .conftest import T0, FakeClock


def _key(kid: str, purpose: str = "authz-signing") -> Key:
    return Key(kid=kid, purpose=purpose, alg="ES256", material=f"-----PEM {kid}-----")  # type: ignore[arg-type]


async def test_key_add_get_active(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    added = await store.keys.add(_key("s1"))
    assert (added.kid, added.active, added.created_at) == ("s1", True, T0)
    assert added.material == "-----PEM s1-----"
    assert "PEM" not in repr(added)  # key material never in a repr (log line)
    clock.advance(10)
    await store.keys.add(_key("s2"))
    await store.keys.add(_key("e1", "authz-encryption"))
    await store.keys.add(_key("s0", "authz-signing"), active=False)
    assert [k.kid for k in await store.keys.active("authz-signing")] == ["s2", "s1"]
    assert [k.kid for k in await store.keys.active("authz-encryption")] == ["e1"]
    assert await store.keys.get("s1") == added
    assert await store.keys.get("nope") is None
    assert {k.kid for k in await store.keys.list()} == {"s0", "s1", "s2", "e1"}
    assert {k.kid for k in await store.keys.list("authz-encryption")} == {"e1"}


async def test_key_replace_rotates_atomically(store: Store) -> None:
    await store.keys.add(_key("s1"))
    await store.keys.add(_key("e1", "authz-encryption"))
    new = await store.keys.replace("authz-signing", _key("s2"))
    assert new.active
    assert [k.kid for k in await store.keys.active("authz-signing")] == ["s2"]
    assert (await store.keys.get("s1")).active is False  # type: ignore[union-attr]
    assert [k.kid for k in await store.keys.active("authz-encryption")] == ["e1"]
    # A failing replace (kid taken) deactivates nothing.
    with pytest.raises(AlreadyExists):
        await store.keys.replace("authz-signing", _key("s1"))
    assert [k.kid for k in await store.keys.active("authz-signing")] == ["s2"]
    with pytest.raises(ValueError):
        await store.keys.replace("authz-signing", _key("e2", "authz-encryption"))


async def test_key_deactivate_and_duplicate(store: Store) -> None:
    await store.keys.add(_key("s1"))
    with pytest.raises(AlreadyExists):
        await store.keys.add(_key("s1"))
    assert await store.keys.deactivate("s1") is True
    assert await store.keys.deactivate("nope") is False
    assert await store.keys.active("authz-signing") == []


async def test_key_purpose_is_checked(store: Store) -> None:
    with pytest.raises(CheckViolation) as caught:
        await store.keys.add(_key("x", "tls"))
    assert caught.value.constraint == "ck_keys_purpose"


async def test_admins(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    admin = await store.admins.create("admin", "$argon2id$v=19$hash1")
    assert (admin.username, admin.active, admin.created_at, admin.updated_at) == (
        "admin",
        True,
        T0,
        T0,
    )
    assert "argon2" not in repr(admin)
    with pytest.raises(AlreadyExists):
        await store.admins.create("admin", "x")
    clock.advance(5)
    changed = await store.admins.set_password("admin", "$argon2id$v=19$hash2")
    assert changed.password_hash == "$argon2id$v=19$hash2"
    assert (changed.created_at, changed.updated_at) == (T0, clock.now)
    assert await store.admins.get("admin") == changed
    assert await store.admins.get("nobody") is None
    with pytest.raises(NotFound):
        await store.admins.set_password("nobody", "x")
    assert (await store.admins.set_active("admin", False)).active is False
    await store.admins.create("ops", "h", active=False)
    assert [a.username for a in await store.admins.list()] == ["admin", "ops"]
