"""Phone security profiles (R9, issue 4 point 8): every rule, every refusal
leaving the store as it was, phones marked for reset, the audit rows."""

from __future__ import annotations

import asyncio

import pytest

from sipoauth import admin
from sipoauth.store import SecurityProfileRecord, Store, Subscription

PHONE = "SEP001122334455"
OLD_PHONE = "SEP00112233AAFF"
OAUTH = "8851 OAuth"


async def _take(sub: Subscription, count: int, timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


async def _profiles(store: Store) -> list[SecurityProfileRecord]:
    return await store.profiles.list()


@pytest.fixture
async def prepared(store: Store) -> Store:
    await admin.ensure_default_profiles(store)
    return store


async def test_add_an_oauth_profile(prepared: Store) -> None:
    store = prepared
    async with store.listen("config") as changes:
        record = await admin.add_profile(
            store,
            name=OAUTH,
            device_type="8851",
            security_mode="Encrypted",
            transport="tls",
            oauth=True,
            description="R9",
        )
        assert await _take(changes, 1) == [f"profile {OAUTH}"]
    assert (record.device_type, record.security_mode, record.transport, record.oauth) == (
        "8851",
        "encrypted",
        "TLS",
        True,
    )
    assert await admin.get_profile(store, OAUTH) == record
    [row] = await admin.list_audit(store)
    assert (row.action, row.object_type, row.object_id) == ("add", "security-profile", OAUTH)
    assert row.detail["oauth"] is True
    assert row.detail["transport"] == "TLS"


async def test_device_types_and_modes_are_spelled_as_stored(prepared: Store) -> None:
    record = await admin.add_profile(
        prepared,
        name="udt",
        device_type="universal device template",
        security_mode="Non Secure",
        transport="tcp+udp",
    )
    assert (record.device_type, record.security_mode, record.transport) == (
        admin.UNIVERSAL_TEMPLATE,
        "non-secure",
        "TCP+UDP",
    )
    soft = await admin.add_profile(prepared, name="csf", device_type="csf")
    assert soft.device_type == "CSF"
    assert "8865NR" in admin.PROFILE_DEVICE_TYPES


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"security_mode": "authenticated"}, admin.InvalidValue, "'Encrypted' and Transport"),
        ({"transport": "TCP"}, admin.InvalidValue, "Transport Type 'TLS'"),
        ({"digest": True}, admin.InvalidValue, "Digest Authentication is not supported"),
        ({"tftp_encrypted": True}, admin.InvalidValue, "TFTP Encrypted Config is not supported"),
        ({"device_type": "7945"}, admin.InvalidValue, "device type '7945'"),
        ({"security_mode": "paranoid"}, admin.InvalidValue, "Device Security Mode 'paranoid'"),
        ({"transport": "SCTP"}, admin.InvalidValue, "Transport Type 'SCTP'"),
        ({"name": " padded"}, admin.InvalidValue, "profile name"),
        ({"name": "x" * 129}, admin.InvalidValue, "profile name"),
        ({"name": "tab\there"}, admin.InvalidValue, "control characters"),
        ({"description": "d" * 513}, admin.InvalidValue, "description: at most 512"),
        ({"name": admin.OAUTH_PROFILE}, admin.Conflict, "exists already"),
    ],
)
async def test_add_refusals_change_nothing(
    prepared: Store, fields: dict[str, object], error: type[admin.AdminError], match: str
) -> None:
    before = await _profiles(prepared)
    wanted: dict[str, object] = {
        "name": OAUTH,
        "device_type": "8851",
        "security_mode": "encrypted",
        "transport": "TLS",
        "oauth": True,
    }
    with pytest.raises(error, match=match):
        await admin.add_profile(prepared, **(wanted | fields))  # type: ignore[arg-type]
    assert await _profiles(prepared) == before
    assert await admin.list_audit(prepared) == []


async def test_digest_and_encrypted_config_are_fine_without_oauth(prepared: Store) -> None:
    record = await admin.add_profile(
        prepared,
        name="digest",
        device_type="7841",
        security_mode="authenticated",
        transport="TCP",
        digest=True,
        tftp_encrypted=True,
    )
    assert (record.digest, record.tftp_encrypted, record.oauth) == (True, True, False)


async def _phones(store: Store) -> None:
    await admin.add_profile(store, name="plain", security_mode="non-secure", transport="TCP")
    await admin.add_device(store, name=PHONE, model="8851", lines=["1000"], profile="plain")
    await admin.add_device(store, name=OLD_PHONE, model="7945", lines=["1001"], profile="plain")
    await admin.add_device(store, name="CSFALICE", model="CSF", lines=["1002"])


async def _reset_flags(store: Store) -> dict[str, bool]:
    return {d.name: d.reset_required for d in await store.devices.list()}


async def test_a_change_of_configuration_marks_its_phones_for_reset(prepared: Store) -> None:
    store = prepared
    await _phones(store)
    record = await admin.update_profile(store, "plain", description="only words")
    assert record.description == "only words"
    assert await _reset_flags(store) == {"CSFALICE": False, OLD_PHONE: False, PHONE: False}
    async with store.listen("config") as changes:
        await admin.update_profile(store, "plain", transport="tcp+udp")
        assert await _take(changes, 1) == ["profile plain"]
    assert await _reset_flags(store) == {"CSFALICE": False, OLD_PHONE: True, PHONE: True}
    update = (await admin.list_audit(store, object_type="security-profile"))[0]
    assert (update.action, update.object_id) == ("update", "plain")
    assert update.detail == {
        "transport": {"old": "TCP", "new": "TCP+UDP"},
        "phones_reset_required": 2,
    }


async def test_unchanged_is_no_change(prepared: Store) -> None:
    await _phones(prepared)
    before = await admin.list_audit(prepared)
    same = await admin.update_profile(prepared, "plain", transport="TCP", description="")
    assert same == await admin.get_profile(prepared, "plain")
    assert await admin.list_audit(prepared) == before


async def test_rename_is_followed_by_its_phones(prepared: Store) -> None:
    store = prepared
    await _phones(store)
    renamed = await admin.update_profile(store, "plain", new_name="Plain TCP")
    assert renamed.name == "Plain TCP"
    assert await store.profiles.get("plain") is None
    assert {d.name for d in await store.devices.list(profile_name="Plain TCP")} == {
        PHONE,
        OLD_PHONE,
    }
    assert await _reset_flags(store) == {"CSFALICE": False, OLD_PHONE: False, PHONE: False}
    row = (await admin.list_audit(store))[0]
    assert (row.object_id, row.detail) == ("plain", {"name": {"old": "plain", "new": "Plain TCP"}})


async def test_update_refusals_change_nothing(prepared: Store) -> None:
    store = prepared
    await _phones(store)
    before = (await _profiles(store), await store.devices.list())
    # R1.2: a 7945 cannot have an OAuth profile.
    with pytest.raises(admin.InvalidValue, match="model 7945 cannot use a security profile with"):
        await admin.update_profile(
            store, "plain", security_mode="encrypted", transport="TLS", oauth=True
        )
    # A profile for 8861 cannot stay on an 8851 and a 7945.
    with pytest.raises(admin.InvalidValue, match="is for device type 8861"):
        await admin.update_profile(store, "plain", device_type="8861")
    with pytest.raises(admin.InvalidValue, match="Digest Authentication"):
        await admin.update_profile(store, admin.OAUTH_PROFILE, digest=True)
    with pytest.raises(admin.Conflict, match="exists already"):
        await admin.update_profile(store, "plain", new_name=admin.DEFAULT_PROFILE)
    with pytest.raises(admin.NotFound, match="does not exist"):
        await admin.update_profile(store, "nope", description="x")
    assert (await _profiles(store), await store.devices.list()) == before


async def test_delete_refused_while_in_use(prepared: Store) -> None:
    store = prepared
    await _phones(store)
    with pytest.raises(admin.Conflict, match="used by 2 phone"):
        await admin.delete_profile(store, "plain")
    assert await store.profiles.get("plain") is not None
    assert await admin.profile_usage(store) == {"plain": 2, admin.DEFAULT_PROFILE: 1}
    await admin.delete_device(store, PHONE)
    await admin.delete_device(store, OLD_PHONE)
    await admin.delete_profile(store, "plain")
    assert await store.profiles.get("plain") is None
    row = (await admin.list_audit(store))[0]
    assert (row.action, row.object_type, row.object_id) == ("delete", "security-profile", "plain")
    with pytest.raises(admin.NotFound):
        await admin.delete_profile(store, "plain")


async def test_get_missing_profile(prepared: Store) -> None:
    with pytest.raises(admin.NotFound, match="'nope' does not exist"):
        await admin.get_profile(prepared, "nope")
    assert [p.name for p in await admin.list_profiles(prepared)] == [
        admin.DEFAULT_PROFILE,
        admin.OAUTH_PROFILE,
    ]
