"""End users (admin rules): ids and passwords checked, argon2 hashes, sign-in check
without a timing oracle, and deactivation/deletion revoking the user's grants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from sipoauth import admin
from sipoauth.admin import _users
from sipoauth.store import Store, Subscription, User

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


async def _take(sub: Subscription, count: int, timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


async def _nothing_more(sub: Subscription, wait: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(anext(sub), wait)
    except TimeoutError:
        return True
    return False


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hashes argon2 verified passwords against, in order."""
    seen: list[str] = []
    real = _users._verify

    def spy(stored: str, password: str) -> bool:
        seen.append(stored)
        return real(stored, password)

    monkeypatch.setattr(_users, "_verify", spy)
    return seen


async def test_add_user_hashes_the_password(store: Store) -> None:
    added = await admin.add_user(store, "alice@example.com", password=PASSWORD, display_name="A")
    assert (added.user_id, added.display_name, added.active) == ("alice@example.com", "A", True)
    assert added.password_hash is not None
    assert added.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(added.password_hash, PASSWORD)
    assert PASSWORD not in repr(added)
    bare = await admin.add_user(store, "bob", active=False)
    assert (bare.password_hash, bare.active) == (None, False)
    assert [u.user_id for u in await admin.list_users(store)] == ["alice@example.com", "bob"]
    with pytest.raises(admin.Conflict, match="exists already"):
        await admin.add_user(store, "bob", password=PASSWORD)


@pytest.mark.parametrize(
    "user_id", ["", "a b", "x" * 129, "jürgen", "a/b", "a:b", "<script>", "tab\t"]
)
async def test_add_user_refuses_bad_ids(store: Store, user_id: str) -> None:
    with pytest.raises(admin.InvalidValue, match="user id"):
        await admin.add_user(store, user_id)
    assert await store.users.list() == []


async def test_user_id_limits_accepted(store: Store) -> None:
    for user_id in ("a", "x" * 128, "first.last_2-b@corp.example"):
        await admin.add_user(store, user_id)
    assert len(await store.users.list()) == 3


@pytest.mark.parametrize("password", ["", "short77", "p" * 129])
async def test_passwords_outside_8_to_128_are_refused(store: Store, password: str) -> None:
    with pytest.raises(admin.InvalidValue, match="8 to 128"):
        await admin.add_user(store, "carol", password=password)
    await admin.add_user(store, "carol")
    with pytest.raises(admin.InvalidValue, match="8 to 128"):
        await admin.set_user_password(store, "carol", password)
    for ok in ("p" * 8, "p" * 128):
        await admin.set_user_password(store, "carol", ok)


async def test_set_user_password(store: Store) -> None:
    await admin.add_user(store, "carol")
    assert await admin.verify_user_password(store, "carol", PASSWORD) is None
    changed = await admin.set_user_password(store, "carol", PASSWORD)
    assert changed.password_hash is not None
    assert await admin.verify_user_password(store, "carol", PASSWORD) == changed
    with pytest.raises(admin.NotFound):
        await admin.set_user_password(store, "nobody", PASSWORD)


async def test_verify_user_password(store: Store, verified: list[str]) -> None:
    record = await admin.add_user(store, "alice", password=PASSWORD)
    assert record.password_hash is not None
    assert await admin.verify_user_password(store, "alice", PASSWORD) == record
    assert await admin.verify_user_password(store, "alice", "wrong password") is None
    assert await admin.verify_user_password(store, "alice", PASSWORD + "x" * 200) is None
    assert verified == [record.password_hash] * 3  # one argon2 check each, too long included


async def test_missing_user_or_password_costs_one_dummy_verification(
    store: Store, verified: list[str]
) -> None:
    """No timing oracle: an unknown user, or one without a password, still
    costs one argon2 verification (against the fixed dummy hash)."""
    await admin.add_user(store, "nopass")
    assert await admin.verify_user_password(store, "nobody", PASSWORD) is None
    assert await admin.verify_user_password(store, "nopass", PASSWORD) is None
    assert await admin.verify_user_password(store, "nobody", "x" * 10_000) is None
    dummy = _users._dummy_hash()
    assert verified == [dummy, dummy, dummy]
    assert dummy.startswith("$argon2id$")


async def test_inactive_user_cannot_sign_in(store: Store, verified: list[str]) -> None:
    await admin.add_user(store, "alice", password=PASSWORD, active=False)
    assert await admin.verify_user_password(store, "alice", PASSWORD) is None
    assert len(verified) == 1  # the same work as for an active user
    await admin.set_user_active(store, "alice", True, now=NOW)
    assert await admin.verify_user_password(store, "alice", PASSWORD) is not None


async def test_old_parameters_are_rehashed_on_success(store: Store) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    await store.users.add(User(user_id="alice", password_hash=weak))
    assert await admin.verify_user_password(store, "alice", "wrong password") is None
    stored = await store.users.get("alice")
    assert stored is not None
    assert stored.password_hash == weak  # not on failure
    user = await admin.verify_user_password(store, "alice", PASSWORD)
    assert user is not None
    assert user.password_hash not in (None, weak)
    assert user.password_hash is not None
    assert not PasswordHasher().check_needs_rehash(user.password_hash)
    assert await store.users.get("alice") == user
    assert await admin.verify_user_password(store, "alice", PASSWORD) == user


async def test_a_corrupt_hash_is_a_refusal(store: Store) -> None:
    await store.users.add(User(user_id="alice", password_hash="not-an-argon2-hash"))
    assert await admin.verify_user_password(store, "alice", PASSWORD) is None


async def _grants(store: Store) -> None:
    at = NOW - timedelta(days=1)
    await store.grants.create("soft", "alice", "csf", user_id="alice", at=at)
    await store.grants.create("legacy", "alice", "csf", at=at)  # subject only
    await store.grants.create("desk", "SEP001122334455", "desk", user_id="alice", at=at)
    await store.grants.create("gone", "alice", "csf", user_id="alice", at=at)
    await store.grants.revoke("gone", at)
    await store.grants.create("bob", "bob", "csf", user_id="bob", at=at)


async def test_deactivating_revokes_and_announces_every_grant(store: Store) -> None:
    await admin.add_user(store, "alice", password=PASSWORD)
    await _grants(store)
    async with store.listen("grants") as sub:
        revoked = await admin.set_user_active(store, "alice", False, now=NOW)
        assert [g.sid for g in revoked] == ["desk", "legacy", "soft"]
        assert all(g.revoked_at == NOW for g in revoked)
        assert sorted(await _take(sub, 3)) == ["desk", "legacy", "soft"]
        assert await _nothing_more(sub)
        user = await store.users.get("alice")
        assert user is not None
        assert user.active is False
        assert await admin.verify_user_password(store, "alice", PASSWORD) is None
        assert [g.sid for g in await store.grants.list_live()] == ["bob"]
        # Activating again revokes nothing and announces nothing.
        assert await admin.set_user_active(store, "alice", True, now=NOW) == []
        assert await _nothing_more(sub)
    with pytest.raises(admin.NotFound):
        await admin.set_user_active(store, "nobody", False, now=NOW)


async def test_delete_user_revokes_then_deletes(store: Store) -> None:
    await admin.add_user(store, "alice", password=PASSWORD)
    await _grants(store)
    async with store.listen("grants") as sub:
        revoked = await admin.delete_user(store, "alice", now=NOW)
        assert [g.sid for g in revoked] == ["desk", "legacy", "soft"]
        assert sorted(await _take(sub, 3)) == ["desk", "legacy", "soft"]
    assert await store.users.get("alice") is None
    assert await admin.verify_user_password(store, "alice", PASSWORD) is None
    assert [g.sid for g in await store.grants.list_live()] == ["bob"]
    with pytest.raises(admin.NotFound):
        await admin.delete_user(store, "alice", now=NOW)


# A user may not be named like a desk phone (DESIGN "Tokens": a desk phone's
# tokens carry its name as ``sub``, so such a user's token could pass for it).


@pytest.mark.parametrize("user_id", ["SEP00AABBCCDDEE", "sep00aabbccddee", "BAT001122334455"])
async def test_user_id_shaped_like_a_desk_phone_is_refused(store: Store, user_id: str) -> None:
    with pytest.raises(admin.InvalidValue, match="desk phone"):
        await admin.add_user(store, user_id, password="long enough")
    assert await store.users.get(user_id) is None


async def test_similar_but_not_phone_shaped_ids_are_fine(store: Store) -> None:
    await admin.add_user(store, "SEP00AABBCCDDEEF", password="long enough")
    await admin.add_user(store, "sepp.maier", password="long enough")
    assert {u.user_id for u in await store.users.list()} >= {"SEP00AABBCCDDEEF", "sepp.maier"}


async def test_verify_admin_password(store: Store, verified: list[str]) -> None:
    """The web service's HTTP Basic check (moved from the node into admin/): an
    active administrator with the right password; one argon2 check whatever the
    outcome (a dummy hash for an unknown or inactive administrator)."""
    await store.admins.create("ops", PasswordHasher().hash(PASSWORD))
    assert await admin.verify_admin_password(store, "ops", PASSWORD) is True
    assert await admin.verify_admin_password(store, "ops", "wrong") is False
    assert await admin.verify_admin_password(store, "nobody", PASSWORD) is False
    await store.admins.set_active("ops", False)
    assert await admin.verify_admin_password(store, "ops", PASSWORD) is False
    assert len(verified) == 4
