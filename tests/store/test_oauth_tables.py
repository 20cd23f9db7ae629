"""Tables of the authorization server (revision 0002): users, authorization codes,
refresh tokens, activation codes, and what grants gained. Every test runs on
SQLite and on PostgreSQL; the races use two Stores on the same database."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import delete

from sipoauth.store import (
    ActivationCode,
    AlreadyExists,
    AuthorizationCode,
    CheckViolation,
    Device,
    InvalidReference,
    Key,
    NotFound,
    RefreshToken,
    SecurityProfile,
    Store,
    User,
)
from sipoauth.store import _models as m

from .conftest import T0, FakeClock

RACERS = 6
"""Concurrent callers in each race (split over two Stores)."""

PROFILE = SecurityProfile(
    name="Cisco 8851 - OAuth",
    device_type="Cisco 8851",
    security_mode="encrypted",
    transport="TLS",
    oauth=True,
)
PHONE = Device(
    name="SEP001122334455",
    model="8851",
    device_type="desk",
    profile_name=PROFILE.name,
    owner_user_id="alice",
)
OTHER_PHONE = dataclasses.replace(PHONE, name="SEP00112233AABB", model="8861")


@pytest_asyncio.fixture(loop_scope="function")
async def second_store(migrated_db_url: str) -> AsyncIterator[Store]:
    """Another Store (another pool of connections) on the same database."""
    opened = await Store.open(migrated_db_url)
    try:
        yield opened
    finally:
        await opened.close()


def _code(code_hash: str = "c" * 64, **changes: object) -> AuthorizationCode:
    code = AuthorizationCode(
        code_hash=code_hash,
        client_id="csf",
        redirect_uri="http://127.0.0.1:5555/cb",
        user_id="alice",
        scope="sip:register config:read",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method="S256",
        via_mra=False,
        auth_time=T0,
        expires_at=T0 + timedelta(seconds=60),
    )
    return dataclasses.replace(code, **changes)  # type: ignore[arg-type]


def _token(token_hash: str, sid: str = "g1", **changes: object) -> RefreshToken:
    token = RefreshToken(
        token_hash=token_hash,
        sid=sid,
        client_id="csf",
        subject="alice",
        scope="sip:register",
        expires_at=T0 + timedelta(days=60),
    )
    return dataclasses.replace(token, **changes)  # type: ignore[arg-type]


def _activation(device_name: str, code_hash: str, **changes: object) -> ActivationCode:
    code = ActivationCode(
        device_name=device_name,
        code_hash=code_hash,
        model="8851",
        expires_at=T0 + timedelta(hours=168),
    )
    return dataclasses.replace(code, **changes)  # type: ignore[arg-type]


async def _phones(store: Store) -> None:
    await store.profiles.add(PROFILE)
    await store.devices.add(PHONE)
    await store.devices.add(OTHER_PHONE)


# -- users ---------------------------------------------------------------------


async def test_users(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    added = await store.users.add(User(user_id="bob", display_name="Bob", password_hash="$h1"))
    assert (added.user_id, added.display_name, added.password_hash, added.active) == (
        "bob",
        "Bob",
        "$h1",
        True,
    )
    assert added.created_at == added.updated_at == T0
    assert "$h1" not in repr(added)
    with pytest.raises(AlreadyExists):
        await store.users.add(User(user_id="bob"))
    alice = await store.users.add(User(user_id="alice"))
    assert (alice.display_name, alice.password_hash, alice.active) == ("", None, True)
    assert await store.users.get("bob") == added
    assert await store.users.get("nope") is None
    assert [u.user_id for u in await store.users.list()] == ["alice", "bob"]

    clock.advance(5)
    changed = await store.users.set_password("alice", "$h2")
    assert (changed.password_hash, changed.created_at, changed.updated_at) == ("$h2", T0, clock.now)
    assert (await store.users.set_password("alice", None)).password_hash is None
    disabled = await store.users.set_active("bob", False)
    assert (disabled.active, disabled.password_hash) == (False, "$h1")
    assert (await store.users.set_active("bob", True)).active is True
    with pytest.raises(NotFound):
        await store.users.set_password("nope", "$h")
    with pytest.raises(NotFound):
        await store.users.set_active("nope", False)

    assert await store.users.delete("bob") is True
    assert await store.users.delete("bob") is False
    assert [u.user_id for u in await store.users.list()] == ["alice"]


# -- authorization codes --------------------------------------------------------


async def test_authorization_codes(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    clock.advance(1)
    added = await store.authorization_codes.add(_code(via_mra=True))
    assert added.created_at == clock.now
    assert (added.used_at, added.sid, added.via_mra, added.auth_time) == (None, None, True, T0)
    assert dataclasses.asdict(added) == {
        **dataclasses.asdict(_code(via_mra=True)),
        "created_at": clock.now,
        "used_at": None,
        "sid": None,
    }
    with pytest.raises(AlreadyExists):
        await store.authorization_codes.add(_code())
    assert await store.authorization_codes.get("c" * 64) == added
    assert await store.authorization_codes.get("nope") is None

    used_at = T0 + timedelta(seconds=10)
    used = await store.authorization_codes.consume("c" * 64, used_at)
    assert used is not None
    assert used == dataclasses.replace(added, used_at=used_at)
    assert await store.authorization_codes.consume("c" * 64, used_at) is None  # single use
    assert await store.authorization_codes.consume("nope", used_at) is None

    await store.authorization_codes.set_sid("c" * 64, "g1")
    stored = await store.authorization_codes.get("c" * 64)
    assert stored is not None
    assert (stored.sid, stored.used_at) == ("g1", used_at)  # the loser of a replay finds it
    with pytest.raises(NotFound):
        await store.authorization_codes.set_sid("nope", "g1")


async def test_authorization_codes_purge(store: Store) -> None:
    await store.authorization_codes.add(_code("a" * 64, expires_at=T0))
    await store.authorization_codes.add(_code("b" * 64, expires_at=T0 + timedelta(seconds=60)))
    assert await store.authorization_codes.purge(T0) == 0  # expires_at < before, strictly
    assert await store.authorization_codes.purge(T0 + timedelta(seconds=1)) == 1
    assert await store.authorization_codes.get("a" * 64) is None
    assert await store.authorization_codes.get("b" * 64) is not None


async def test_authorization_code_race_has_one_winner(store: Store, second_store: Store) -> None:
    await store.authorization_codes.add(_code())
    at = T0 + timedelta(seconds=5)
    results = await asyncio.gather(
        *(
            (store if i % 2 else second_store).authorization_codes.consume("c" * 64, at)
            for i in range(RACERS)
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].used_at == at


# -- refresh tokens ---------------------------------------------------------------


async def test_refresh_tokens(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    await store.grants.create("g1", "alice", "csf")
    added = await store.refresh_tokens.add(_token("r1"))
    assert dataclasses.asdict(added) == {
        **dataclasses.asdict(_token("r1")),
        "created_at": T0,
        "rotated_at": None,
    }
    with pytest.raises(AlreadyExists):
        await store.refresh_tokens.add(_token("r1"))
    with pytest.raises(InvalidReference):
        await store.refresh_tokens.add(_token("r9", sid="no-such-grant"))
    assert await store.refresh_tokens.get("r1") == added
    assert await store.refresh_tokens.get("nope") is None

    clock.advance(30)
    at = clock.now
    assert await store.refresh_tokens.rotate("r1", _token("r2"), at) is True
    old, new = await store.refresh_tokens.get("r1"), await store.refresh_tokens.get("r2")
    assert old is not None
    assert new is not None
    assert old.rotated_at == at
    assert (new.created_at, new.rotated_at) == (at, None)
    assert await store.refresh_tokens.rotate("r1", _token("r3"), at) is False  # replay
    assert await store.refresh_tokens.get("r3") is None
    assert await store.refresh_tokens.rotate("nope", _token("r4"), at) is False
    assert await store.refresh_tokens.get("r4") is None
    with pytest.raises(InvalidReference):  # the grant went: nothing is kept
        await store.refresh_tokens.rotate("r2", _token("r5", sid="no-such-grant"), at)
    still = await store.refresh_tokens.get("r2")
    assert still is not None
    assert still.rotated_at is None


async def test_refresh_token_race_has_one_winner(store: Store, second_store: Store) -> None:
    await store.grants.create("g1", "alice", "csf")
    await store.refresh_tokens.add(_token("r0"))
    at = T0 + timedelta(minutes=1)
    results = await asyncio.gather(
        *(
            (store if i % 2 else second_store).refresh_tokens.rotate("r0", _token(f"n{i}"), at)
            for i in range(RACERS)
        )
    )
    assert results.count(True) == 1
    successors = [i for i in range(RACERS) if await store.refresh_tokens.get(f"n{i}") is not None]
    assert successors == [results.index(True)]
    assert await store.refresh_tokens.count_live(T0) == 1


async def test_refresh_tokens_count_purge_delete(store: Store) -> None:
    await store.grants.create("g1", "alice", "csf")
    await store.grants.create("g2", "bob", "csf")
    await store.refresh_tokens.add(_token("live1"))
    await store.refresh_tokens.add(_token("live2", sid="g2"))
    await store.refresh_tokens.add(_token("old", expires_at=T0))
    await store.refresh_tokens.add(_token("used"))
    assert await store.refresh_tokens.rotate("used", _token("live3"), T0) is True
    assert await store.refresh_tokens.count_live(T0) == 4  # live1-3, old (expires at T0)
    assert await store.refresh_tokens.count_live(T0 + timedelta(seconds=1)) == 3
    assert await store.refresh_tokens.purge_expired(T0) == 0
    assert await store.refresh_tokens.purge_expired(T0 + timedelta(seconds=1)) == 1
    assert await store.refresh_tokens.get("old") is None
    assert await store.refresh_tokens.delete_grant("g1") == 3  # live1, used, live3
    assert await store.refresh_tokens.delete_grant("g1") == 0
    assert await store.refresh_tokens.get("live2") is not None
    await store.refresh_tokens.add(_token("live4"))
    assert await store.refresh_tokens.delete_all() == 2
    assert await store.refresh_tokens.delete_all() == 0
    assert await store.refresh_tokens.count_live(T0) == 0


async def test_deleting_a_grant_deletes_its_refresh_tokens(store: Store) -> None:
    await store.grants.create("g1", "alice", "csf")
    await store.grants.create("g2", "alice", "csf")
    await store.refresh_tokens.add(_token("r1"))
    await store.refresh_tokens.add(_token("r2", sid="g2"))
    async with store.engine.begin() as conn:  # no repository deletes grants (yet)
        await conn.execute(delete(m.Grant).where(m.Grant.sid == "g1"))
    assert await store.refresh_tokens.get("r1") is None
    assert await store.refresh_tokens.get("r2") is not None


# -- activation codes -------------------------------------------------------------


async def test_activation_codes(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    await _phones(store)
    added = await store.activation_codes.put(_activation(PHONE.name, "h1"))
    assert dataclasses.asdict(added) == {
        **dataclasses.asdict(_activation(PHONE.name, "h1")),
        "created_at": T0,
    }
    assert await store.activation_codes.get(PHONE.name) == added
    assert await store.activation_codes.get(OTHER_PHONE.name) is None
    assert await store.activation_codes.find("h1") == added
    assert await store.activation_codes.find("nope") is None

    clock.advance(60)
    later = T0 + timedelta(hours=200)
    replaced = await store.activation_codes.put(_activation(PHONE.name, "h2", expires_at=later))
    assert (replaced.code_hash, replaced.created_at, replaced.expires_at) == (
        "h2",
        clock.now,
        later,
    )
    assert await store.activation_codes.find("h1") is None  # the old code stopped working
    with pytest.raises(AlreadyExists):  # a hash is one device's only
        await store.activation_codes.put(_activation(OTHER_PHONE.name, "h2"))
    with pytest.raises(InvalidReference):
        await store.activation_codes.put(_activation("SEP0000000000FF", "h3"))

    other = await store.activation_codes.put(_activation(OTHER_PHONE.name, "h4", model="8861"))
    assert await store.activation_codes.list() == [replaced, other]  # by device name

    assert await store.activation_codes.consume("h2") == replaced
    assert await store.activation_codes.consume("h2") is None  # single use
    assert await store.activation_codes.get(PHONE.name) is None
    assert await store.activation_codes.release(OTHER_PHONE.name) is True
    assert await store.activation_codes.release(OTHER_PHONE.name) is False
    assert await store.activation_codes.list() == []


async def test_activation_codes_purge(store: Store) -> None:
    await _phones(store)
    await store.activation_codes.put(_activation(PHONE.name, "h1", expires_at=T0))
    await store.activation_codes.put(_activation(OTHER_PHONE.name, "h2"))
    assert await store.activation_codes.purge(T0) == 0  # expires_at < before, strictly
    assert await store.activation_codes.purge(T0 + timedelta(seconds=1)) == 1
    assert [c.device_name for c in await store.activation_codes.list()] == [OTHER_PHONE.name]


async def test_activation_code_race_has_one_winner(store: Store, second_store: Store) -> None:
    await _phones(store)
    await store.activation_codes.put(_activation(PHONE.name, "h1"))
    results = await asyncio.gather(
        *((store if i % 2 else second_store).activation_codes.consume("h1") for i in range(RACERS))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].device_name == PHONE.name


async def test_activation_code_follows_its_device(store: Store) -> None:
    await _phones(store)
    await store.activation_codes.put(_activation(PHONE.name, "h1"))
    await store.activation_codes.put(_activation(OTHER_PHONE.name, "h2"))
    await store.devices.rename(PHONE.name, "SEP0011223344FF")  # ON UPDATE CASCADE
    assert await store.activation_codes.get(PHONE.name) is None
    moved = await store.activation_codes.get("SEP0011223344FF")
    assert moved is not None
    assert moved.code_hash == "h1"
    found = await store.activation_codes.find("h1")
    assert found is not None
    assert found.device_name == "SEP0011223344FF"
    assert await store.devices.delete("SEP0011223344FF") is True  # ON DELETE CASCADE
    assert await store.activation_codes.find("h1") is None
    assert [c.code_hash for c in await store.activation_codes.list()] == ["h2"]


# -- grants and keys ----------------------------------------------------------------


async def test_grants_carry_user_and_grant_type(clocked_store: Store) -> None:
    store = clocked_store
    old_style = await store.grants.create("g0", "alice", "csf")
    assert (old_style.user_id, old_style.grant_type) == (None, None)
    grant = await store.grants.create(
        "g1", "SEP001122334455", "desk", user_id="alice", grant_type="activation_code"
    )
    assert (grant.subject, grant.user_id, grant.grant_type, grant.created_at) == (
        "SEP001122334455",
        "alice",
        "activation_code",
        T0,
    )
    assert await store.grants.get("g1") == grant


async def test_grants_revoke_user(store: Store) -> None:
    at = T0
    await store.grants.create("a-soft", "alice", "csf", user_id="alice", at=at)
    await store.grants.create("a-legacy", "alice", "csf", at=at)  # subject only
    await store.grants.create("a-desk", "SEP001122334455", "desk", user_id="alice", at=at)
    await store.grants.create("a-third", "alice", "webex", user_id="alice", at=at)
    await store.grants.create("b-soft", "bob", "csf", user_id="bob", at=at)
    await store.grants.create("b-desk", "SEP00112233AABB", "desk", user_id="bob", at=at)
    assert [g.sid for g in await store.grants.list_live("alice")] == [
        "a-desk",
        "a-legacy",
        "a-soft",
        "a-third",
    ]
    assert len(await store.grants.list_live()) == 6

    t1 = at + timedelta(minutes=1)
    revoked = await store.grants.revoke_user("alice", "csf", at=t1)
    assert [g.sid for g in revoked] == ["a-legacy", "a-soft"]
    assert all(g.revoked_at == t1 and g.client_id == "csf" for g in revoked)
    assert await store.grants.revoke_user("alice", "csf", at=t1) == []

    t2 = at + timedelta(minutes=2)
    revoked = await store.grants.revoke_user("alice", at=t2)
    assert [(g.sid, g.user_id, g.revoked_at) for g in revoked] == [
        ("a-desk", "alice", t2),
        ("a-third", "alice", t2),
    ]
    assert await store.grants.list_live("alice") == []
    assert [g.sid for g in await store.grants.list_live()] == ["b-desk", "b-soft"]
    assert await store.grants.revoke_user("carol", at=t2) == []
    legacy = await store.grants.get("a-legacy")
    assert legacy is not None
    assert legacy.revoked_at == t1  # the first revocation time is kept


async def test_key_purpose_activation_code(store: Store) -> None:
    key = Key(kid="activation-code-1", purpose="activation-code", alg="HS256", material="c2VjcmV0")
    added = await store.keys.add(key)
    assert added.purpose == "activation-code"
    assert [k.kid for k in await store.keys.active("activation-code")] == ["activation-code-1"]
    bad = dataclasses.replace(key, kid="x", purpose="activation")  # type: ignore[arg-type]
    with pytest.raises(CheckViolation) as caught:
        await store.keys.add(bad)
    assert caught.value.constraint == "ck_keys_purpose"
