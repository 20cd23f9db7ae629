"""Activation codes (admin rules): desk phones only, HMAC'd under the cluster's
activation-code key, replaced when regenerated, listed without the code."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from sipoauth import admin
from sipoauth.admin import _settings as keys
from sipoauth.oauth._secrets import hash_activation_code, normalise_activation_code
from sipoauth.store import Store

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PHONE = "SEP001122334455"
BAT = "BAT00AABBCCDDEE"
SOFT = "CSFALICE"


async def _devices(store: Store) -> None:
    await admin.ensure_default_profiles(store)
    await admin.add_device(store, name=PHONE, model="8851", lines=["1000"], owner="alice")
    await admin.add_device(store, name=BAT, model="8861", lines=["1001"])
    await admin.add_device(store, name=SOFT, model="CSF", lines=["1002"], owner="alice")


async def test_activation_key_is_made_once(store: Store) -> None:
    key = await admin.activation_key(store)
    assert len(key) == 32
    [stored] = await store.keys.list("activation-code")
    assert (stored.kid, stored.alg, stored.active) == ("activation-code-1", "HS256", True)
    assert base64.b64decode(stored.material) == key
    assert await admin.activation_key(store) == key


async def test_activation_key_race_yields_one_key(store: Store, migrated_db_url: str) -> None:
    other = await Store.open(migrated_db_url)
    try:
        got = await asyncio.gather(
            *(admin.activation_key(store if i % 2 else other) for i in range(6))
        )
    finally:
        await other.close()
    assert len(set(got)) == 1
    assert [k.kid for k in await store.keys.list("activation-code")] == ["activation-code-1"]


async def test_activation_key_after_deactivation_is_a_new_one(store: Store) -> None:
    first = await admin.activation_key(store)
    assert await store.keys.deactivate("activation-code-1") is True
    second = await admin.activation_key(store)
    assert second != first
    active = await store.keys.active("activation-code")
    assert [k.kid for k in active] == ["activation-code-2"]


async def test_generate_for_a_desk_phone(store: Store) -> None:
    await _devices(store)
    code, expires_at = await admin.generate_activation_code(store, PHONE, now=NOW)
    assert re.fullmatch(r"[0-9]{16}", code)
    assert expires_at == NOW + timedelta(hours=168)  # DEFAULTS: 168 h
    key = await admin.activation_key(store)
    record = await store.activation_codes.get(PHONE)
    assert record is not None
    assert (record.code_hash, record.model, record.expires_at) == (
        hash_activation_code(key, code),
        "8851",
        expires_at,
    )
    assert code not in repr(await store.activation_codes.list())  # only the HMAC is kept
    assert await store.activation_codes.find(hash_activation_code(key, code)) == record


async def test_regenerating_replaces_the_code(store: Store) -> None:
    await _devices(store)
    old, _ = await admin.generate_activation_code(store, PHONE, now=NOW)
    new, _ = await admin.generate_activation_code(store, PHONE.lower(), now=NOW)  # as typed
    assert new != old
    key = await admin.activation_key(store)
    assert await store.activation_codes.find(hash_activation_code(key, old)) is None
    assert await store.activation_codes.find(hash_activation_code(key, new)) is not None
    assert len(await store.activation_codes.list()) == 1


async def test_ttl_comes_from_the_service_parameter(store: Store) -> None:
    await _devices(store)
    await store.settings.set(keys.ACTIVATION_TTL_HOURS, 24)
    _, expires_at = await admin.generate_activation_code(store, BAT, now=NOW)
    assert expires_at == NOW + timedelta(hours=24)
    await store.settings.set(keys.ACTIVATION_TTL_HOURS, "soon")
    with pytest.raises(admin.InvalidValue, match="Time to Live"):
        await admin.generate_activation_code(store, BAT, now=NOW)


async def test_only_existing_desk_phones_get_codes(store: Store) -> None:
    await _devices(store)
    with pytest.raises(admin.InvalidValue, match="activation codes are for desk phones"):
        await admin.generate_activation_code(store, SOFT, now=NOW)
    with pytest.raises(admin.NotFound):
        await admin.generate_activation_code(store, "SEP0000000000FF", now=NOW)
    assert await store.activation_codes.list() == []


async def test_release(store: Store) -> None:
    await _devices(store)
    await admin.generate_activation_code(store, PHONE, now=NOW)
    await admin.release_activation_code(store, PHONE)
    assert await store.activation_codes.get(PHONE) is None
    with pytest.raises(admin.NotFound, match="no activation code"):
        await admin.release_activation_code(store, PHONE)
    with pytest.raises(admin.NotFound, match="does not exist"):
        await admin.release_activation_code(store, "SEP0000000000FF")


async def test_list_shows_owner_and_expiry_never_the_code(store: Store) -> None:
    await _devices(store)
    await store.settings.set(keys.ACTIVATION_TTL_HOURS, 1)
    await admin.generate_activation_code(store, PHONE, now=NOW)
    await admin.generate_activation_code(store, BAT, now=NOW + timedelta(hours=2))
    rows = await admin.list_activation_codes(store, now=NOW + timedelta(hours=2))
    assert [(r.device, r.model, r.owner, r.expires_at, r.expired) for r in rows] == [
        (BAT, "8861", None, NOW + timedelta(hours=3), False),
        (PHONE, "8851", "alice", NOW + timedelta(hours=1), True),
    ]
    assert not hasattr(rows[0], "code")
    at_expiry = await admin.list_activation_codes(store, now=NOW + timedelta(hours=1))
    assert [r.expired for r in at_expiry] == [False, True]  # expired at its expiry time


def test_format_activation_code() -> None:
    assert admin.format_activation_code("0123456789012345") == "0123-4567-8901-2345"
    assert normalise_activation_code("0123-4567-8901-2345") == "0123456789012345"
