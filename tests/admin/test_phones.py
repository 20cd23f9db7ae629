"""Phones (issue 4 point 10, R1, R9, R12.1): add with the activation fields,
change, find, reset / apply config, delete, and end users' devices. Every
refusal leaves the store as it was."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from sipoauth import admin
from sipoauth.store import DeviceRecord, MraDomain, Store, Subscription

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PHONE = "SEP001122334455"
PHONE2 = "SEP0011223344AA"
BAT = "BAT00AABBCCDDEE"
SOFT = "CSFALICE"
DOMAIN = "MRA Europe"


async def _take(sub: Subscription, count: int, timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


@pytest.fixture
async def prepared(store: Store) -> Store:
    await admin.ensure_default_profiles(store)
    await store.mra_domains.add(MraDomain(name=DOMAIN, domains=("mra.example.com",)))
    await admin.add_user(store, "alice")
    await admin.add_user(store, "bob")
    await admin.add_profile(store, name="8851 only", device_type="8851")
    await admin.add_device(
        store,
        name=PHONE.lower(),
        model="8851",
        lines=["1000", "1001"],
        owner="alice",
        requires_activation_code=True,
        allow_activation_via_mra=True,
        mra_service_domain=DOMAIN,
    )
    await admin.add_device(store, name=SOFT, model="csf", lines=["2000"], owner="alice")
    await admin.add_device(store, name=BAT, model="8865nr", lines=[], oauth_firmware=False)
    return store


async def _device(store: Store, name: str) -> DeviceRecord:
    record = await store.devices.get(name)
    assert record is not None
    return record


async def test_add_with_the_activation_fields(prepared: Store) -> None:
    phone = await _device(prepared, PHONE)
    assert (
        phone.requires_activation_code,
        phone.allow_activation_via_mra,
        phone.mra_service_domain,
        phone.config_version,
        phone.reset_required,
    ) == (True, True, DOMAIN, 1, False)
    assert (await _device(prepared, SOFT)).model == "CSF"
    assert (await _device(prepared, BAT)).model == "8865NR"
    row = (await admin.list_audit(prepared, object_id=PHONE))[0]
    assert (row.action, row.object_type) == ("add", "device")
    assert row.detail["requires_activation"] is True
    assert row.detail["lines"] == ["1000", "1001"]
    assert row.detail["mra_service_domain"] == DOMAIN


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"name": "CSFBOB", "model": "CSF", "requires_activation_code": True}, admin.InvalidValue,
         "for desk phones"),
        ({"name": "CSFBOB", "model": "CSF", "allow_activation_via_mra": True}, admin.InvalidValue,
         "for desk phones"),
        ({"name": "CSFBOB", "model": "CSF", "mra_service_domain": DOMAIN}, admin.InvalidValue,
         "MRA Service Domain is for desk phones"),
        ({"mra_service_domain": "Nowhere"}, admin.NotFound,
         "MRA Service Domain 'Nowhere' does not exist"),
        ({"profile": "8851 only", "model": "8861"}, admin.InvalidValue,
         "is for device type 8851"),
        ({"profile": admin.OAUTH_PROFILE, "model": "7945"}, admin.InvalidValue,
         r"cannot use a security profile with OAuth \(R1.1\)"),
        ({"profile": "nope"}, admin.NotFound, "security profile 'nope' does not exist"),
        ({"model": "bad/model"}, admin.InvalidValue, "model 'bad/model'"),
        ({"description": "two\nlines"}, admin.InvalidValue, "one line"),
        ({"lines": [str(1000 + i) for i in range(65)]}, admin.InvalidValue, "at most 64"),
        ({"lines": ["12a"]}, admin.InvalidValue, "directory number '12a'"),
        ({"lines": ["3000", "3000"]}, admin.InvalidValue, "appears twice"),
        ({"name": PHONE}, admin.Conflict, "exists already"),
        ({"name": "SEP00112233"}, admin.InvalidValue, "device name"),
    ],
)  # fmt: skip
async def test_add_refusals_change_nothing(
    prepared: Store, fields: dict[str, object], error: type[admin.AdminError], match: str
) -> None:
    before = await prepared.devices.list()
    audit_before = await admin.list_audit(prepared)
    wanted: dict[str, object] = {"name": PHONE2, "model": "8851", "lines": ["3000"]}
    with pytest.raises(error, match=match):
        await admin.add_device(prepared, **(wanted | fields))  # type: ignore[arg-type]
    assert await prepared.devices.list() == before
    assert await admin.list_audit(prepared) == audit_before


async def test_update_device(prepared: Store) -> None:
    store = prepared
    async with store.listen("config") as changes:
        record = await admin.update_device(
            store,
            PHONE.lower(),
            model="8865",
            owner="bob",
            profile=admin.OAUTH_PROFILE,
            lines=["1000", "1002"],
            allow_activation_via_mra=False,
            mra_service_domain=None,
            requires_activation_code=False,
            oauth_firmware=False,
        )
        assert await _take(changes, 1) == [f"device {PHONE}"]
    assert (record.model, record.owner_user_id, record.profile_name) == (
        "8865",
        "bob",
        admin.OAUTH_PROFILE,
    )
    assert [line.dn for line in record.lines] == ["1000", "1002"]
    assert (record.allow_activation_via_mra, record.mra_service_domain) == (False, None)
    assert (record.requires_activation_code, record.oauth_firmware) == (False, False)
    assert record.reset_required is True
    assert record.config_version == 1
    row = (await admin.list_audit(store))[0]
    assert (row.action, row.object_id) == ("update", PHONE)
    assert row.detail["owner"] == {"old": "alice", "new": "bob"}
    assert row.detail["lines"] == {"old": ["1000", "1001"], "new": ["1000", "1002"]}
    assert row.detail["requires_activation"] == {"old": True, "new": False}
    assert "description" not in row.detail
    cleared = await admin.update_device(store, PHONE, owner=None)
    assert cleared.owner_user_id is None


async def test_a_description_alone_needs_no_reset(prepared: Store) -> None:
    record = await admin.update_device(prepared, SOFT, description="Alice's laptop")
    assert (record.description, record.reset_required) == ("Alice's laptop", False)
    before = await admin.list_audit(prepared)
    same = await admin.update_device(prepared, SOFT, description="Alice's laptop", lines=["2000"])
    assert same == record
    assert await admin.list_audit(prepared) == before  # nothing changed, nothing audited


async def test_an_owner_gone_since_does_not_block_other_changes(prepared: Store) -> None:
    await admin.delete_user(prepared, "bob", now=NOW)
    await admin.add_device(prepared, name=PHONE2, model="8851", lines=["4000"], owner="bob")
    record = await admin.update_device(prepared, PHONE2, description="desk 4")
    assert record.owner_user_id == "bob"


@pytest.mark.parametrize(
    ("name", "changes", "error", "match"),
    [
        (PHONE, {"owner": "carol"}, admin.NotFound, "owner: end user 'carol' does not exist"),
        (PHONE, {"mra_service_domain": "Nowhere"}, admin.NotFound, "'Nowhere' does not exist"),
        (PHONE, {"profile": "nope"}, admin.NotFound, "'nope' does not exist"),
        (PHONE, {"model": "7945", "profile": admin.OAUTH_PROFILE}, admin.InvalidValue, "R1.1"),
        (BAT, {"profile": "8851 only"}, admin.InvalidValue, "is for device type 8851"),
        (SOFT, {"model": "BOT"}, admin.InvalidValue, "a CSF device has model CSF"),
        (SOFT, {"requires_activation_code": True}, admin.InvalidValue, "for desk phones"),
        (SOFT, {"allow_activation_via_mra": True}, admin.InvalidValue, "for desk phones"),
        (PHONE, {"lines": ["1000", "1000"]}, admin.InvalidValue, "appears twice"),
        (PHONE, {"lines": ["x"]}, admin.InvalidValue, "directory number 'x'"),
        (PHONE, {"description": "d" * 513}, admin.InvalidValue, "at most 512"),
        ("SEP0000000000FF", {"description": "x"}, admin.NotFound, "does not exist"),
    ],
)
async def test_update_refusals_change_nothing(
    prepared: Store,
    name: str,
    changes: dict[str, object],
    error: type[admin.AdminError],
    match: str,
) -> None:
    before = await prepared.devices.list()
    audit_before = await admin.list_audit(prepared)
    with pytest.raises(error, match=match):
        await admin.update_device(prepared, name, **changes)  # type: ignore[arg-type]
    assert await prepared.devices.list() == before
    assert await admin.list_audit(prepared) == audit_before


async def test_find_devices(prepared: Store) -> None:
    store = prepared
    for i in range(12):
        await admin.add_device(store, name=f"SEP0000000000{i:02X}", model="7841", lines=[])
    await admin.add_device(store, name="TCTA_B", model="TCT", lines=[])
    await admin.add_device(store, name="TCTAXB", model="TCT", lines=[])

    page, total = await admin.find_devices(store, model="7841", limit=5, offset=10)
    assert total == 12
    assert [d.name for d in page] == ["SEP00000000000A", "SEP00000000000B"]
    rows, total = await admin.find_devices(store, name_contains="aabb")
    assert ([d.name for d in rows], total) == ([BAT], 1)
    # `_` and `%` are literal characters, not LIKE wildcards.
    rows, _ = await admin.find_devices(store, name_contains="a_b")
    assert [d.name for d in rows] == ["TCTA_B"]
    rows, _ = await admin.find_devices(store, name_contains="%")
    assert rows == []
    rows, total = await admin.find_devices(store, owner="alice")
    assert ([d.name for d in rows], total) == ([SOFT, PHONE], 2)
    rows, _ = await admin.find_devices(store, device_type="SOFT")
    assert sorted(d.name for d in rows) == [SOFT, "TCTAXB", "TCTA_B"]
    rows, _ = await admin.find_devices(store, model="8865nr", profile=admin.DEFAULT_PROFILE)
    assert [d.name for d in rows] == [BAT]
    rows, total = await admin.find_devices(store, name_contains="SEP", model="7841", owner="bob")
    assert (rows, total) == ([], 0)
    everything, total = await admin.find_devices(store, limit=admin.FIND_LIMIT_MAX)
    assert total == len(everything) == 17

    for bad, match in (
        ({"limit": 0}, "limit"),
        ({"limit": admin.FIND_LIMIT_MAX + 1}, "limit"),
        ({"offset": -1}, "offset"),
        ({"device_type": "fax"}, "desk or soft"),
    ):
        with pytest.raises(admin.InvalidValue, match=match):
            await admin.find_devices(store, **bad)  # type: ignore[arg-type]


async def test_reset_and_apply_config(prepared: Store) -> None:
    store = prepared
    await admin.update_device(store, PHONE, lines=["1000"])
    assert (await _device(store, PHONE)).reset_required is True
    async with store.listen("devices") as resets:
        assert await admin.reset_device(store, PHONE.lower(), action="reset") == 2
        assert await admin.reset_device(store, PHONE, action="apply-config") == 3
        got = [json.loads(p) for p in await _take(resets, 2)]
    assert got == [
        {"device": PHONE, "action": "reset", "config_version": 2},
        {"device": PHONE, "action": "apply-config", "config_version": 3},
    ]
    phone = await _device(store, PHONE)
    assert (phone.config_version, phone.reset_required) == (3, False)
    rows = await admin.list_audit(store, object_id=PHONE)
    assert [(r.action, r.detail) for r in rows[:2]] == [
        ("apply-config", {"config_version": 3}),
        ("reset", {"config_version": 2}),
    ]
    with pytest.raises(admin.NotFound, match="does not exist"):
        await admin.reset_device(store, "SEP0000000000FF", action="reset")
    with pytest.raises(admin.InvalidValue, match="reset or apply-config"):
        await admin.reset_device(store, PHONE, action="reboot")  # type: ignore[arg-type]
    assert (await _device(store, PHONE)).config_version == 3


async def test_delete_releases_the_activation_code(prepared: Store) -> None:
    store = prepared
    await admin.generate_activation_code(store, PHONE, now=NOW)
    async with store.listen("config") as changes:
        await admin.delete_device(store, PHONE.lower())
        assert await _take(changes, 1) == [f"device {PHONE}"]
    assert await store.activation_codes.get(PHONE) is None
    assert await store.devices.get(PHONE) is None
    row = (await admin.list_audit(store))[0]
    assert (row.action, row.object_type, row.object_id) == ("delete", "device", PHONE)
    with pytest.raises(admin.NotFound):
        await admin.delete_device(store, PHONE)


async def test_end_users_devices(prepared: Store) -> None:
    store = prepared
    assert [d.name for d in await admin.user_devices(store, "alice")] == [SOFT, PHONE]
    assert await admin.user_devices(store, "bob") == []
    detail = await admin.get_user_detail(store, "alice")
    assert detail.user.user_id == "alice"
    assert [d.name for d in detail.devices] == [SOFT, PHONE]
    listing = await admin.list_user_details(store)
    assert [(u.user.user_id, [d.name for d in u.devices]) for u in listing] == [
        ("alice", [SOFT, PHONE]),
        ("bob", []),
    ]
    with pytest.raises(admin.NotFound, match="carol does not exist"):
        await admin.user_devices(store, "carol")
    with pytest.raises(admin.NotFound, match="carol does not exist"):
        await admin.get_user_detail(store, "carol")
