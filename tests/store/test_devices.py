"""Security profiles, devices and lines."""

from __future__ import annotations

import dataclasses

import pytest

from sipoauth.store import (
    AlreadyExists,
    CheckViolation,
    Device,
    InvalidReference,
    Line,
    NotFound,
    SecurityProfile,
    Store,
)

from .conftest import T0, FakeClock

OAUTH = SecurityProfile(
    name="Cisco 8851 - OAuth",
    device_type="Cisco 8851",
    security_mode="encrypted",
    transport="TLS",
    oauth=True,
    description="SIP OAuth",
)
PHONE = Device(
    name="SEP001122334455",
    model="8851",
    device_type="desk",
    profile_name=OAUTH.name,
    oauth_firmware=True,
    allow_activation_via_mra=True,
    mra_service_domain="mra.example.com",
)
LINES = (Line(position=1, dn="1000"), Line(position=2, dn="1001"))


async def test_profiles(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    added = await store.profiles.add(OAUTH)
    assert added.created_at == added.updated_at == T0
    assert dataclasses.asdict(added) == {
        **dataclasses.asdict(OAUTH),
        "created_at": T0,
        "updated_at": T0,
    }
    with pytest.raises(AlreadyExists):
        await store.profiles.add(OAUTH)
    clock.advance(1)
    changed = await store.profiles.update(dataclasses.replace(OAUTH, description="changed"))
    assert (changed.description, changed.updated_at) == ("changed", clock.now)
    assert await store.profiles.get(OAUTH.name) == changed
    assert await store.profiles.get("nope") is None
    with pytest.raises(NotFound):
        await store.profiles.update(dataclasses.replace(OAUTH, name="nope"))
    await store.profiles.add(SecurityProfile(name="A first", device_type="x"))
    assert [p.name for p in await store.profiles.list()] == ["A first", OAUTH.name]
    assert await store.profiles.delete("A first") is True
    assert await store.profiles.delete("A first") is False


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("security_mode", "paranoid", "ck_security_profiles_security_mode"),
        ("transport", "SCTP", "ck_security_profiles_transport"),
    ],
)
async def test_profile_enums_are_checked(
    store: Store, field: str, value: str, constraint: str
) -> None:
    with pytest.raises(CheckViolation) as caught:
        await store.profiles.add(dataclasses.replace(OAUTH, **{field: value}))
    assert caught.value.constraint == constraint
    assert await store.profiles.list() == []


async def test_device_add_get_list(clocked_store: Store) -> None:
    store = clocked_store
    await store.profiles.add(OAUTH)
    added = await store.devices.add(PHONE, [LINES[1], LINES[0]])
    assert added.lines == LINES  # ordered by position
    assert added.created_at == added.updated_at == T0
    assert {
        k: v for k, v in dataclasses.asdict(added).items() if k in dataclasses.asdict(PHONE)
    } == (dataclasses.asdict(PHONE))
    assert await store.devices.get(PHONE.name) == added
    assert await store.devices.get("SEP000000000000") is None
    soft = await store.devices.add(
        Device(
            name="CSFjdoe",
            model="CSF",
            device_type="soft",
            profile_name=OAUTH.name,
            owner_user_id="jdoe",
        )
    )
    assert soft.lines == ()
    assert [d.name for d in await store.devices.list()] == ["CSFjdoe", PHONE.name]
    assert [d.name for d in await store.devices.list(owner_user_id="jdoe")] == ["CSFjdoe"]
    assert len(await store.devices.list(profile_name=OAUTH.name)) == 2
    assert await store.devices.list(profile_name="other") == []


async def test_device_add_is_atomic(store: Store) -> None:
    await store.profiles.add(OAUTH)
    with pytest.raises(AlreadyExists):
        await store.devices.add(PHONE, [Line(position=1, dn="1000"), Line(position=1, dn="2000")])
    assert await store.devices.get(PHONE.name) is None
    with pytest.raises(CheckViolation):
        await store.devices.add(PHONE, [Line(position=0, dn="1000")])
    assert await store.devices.list() == []


async def test_device_needs_existing_profile(store: Store) -> None:
    with pytest.raises(InvalidReference):
        await store.devices.add(PHONE, LINES)
    assert await store.devices.list() == []


async def test_device_type_is_checked(store: Store) -> None:
    await store.profiles.add(OAUTH)
    with pytest.raises(CheckViolation) as caught:
        await store.devices.add(dataclasses.replace(PHONE, device_type="fax"))  # type: ignore[arg-type]
    assert caught.value.constraint == "ck_devices_device_type"


async def test_device_duplicate(store: Store) -> None:
    await store.profiles.add(OAUTH)
    await store.devices.add(PHONE)
    with pytest.raises(AlreadyExists):
        await store.devices.add(PHONE)


async def test_profile_in_use_cannot_be_deleted(store: Store) -> None:
    await store.profiles.add(OAUTH)
    await store.devices.add(PHONE)
    with pytest.raises(InvalidReference):
        await store.profiles.delete(OAUTH.name)
    assert await store.profiles.get(OAUTH.name) is not None


async def test_device_update(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    await store.profiles.add(OAUTH)
    await store.devices.add(PHONE, LINES)
    clock.advance(3)
    changed = await store.devices.update(dataclasses.replace(PHONE, description="lobby"))
    assert (changed.description, changed.lines, changed.updated_at) == ("lobby", LINES, clock.now)
    relined = await store.devices.update(PHONE, [Line(position=1, dn="2000")])
    assert relined.lines == (Line(position=1, dn="2000"),)
    assert relined.description == ""
    with pytest.raises(NotFound):
        await store.devices.update(dataclasses.replace(PHONE, name="SEP999"))
    # A failing update keeps the old fields and lines.
    with pytest.raises(AlreadyExists):
        await store.devices.update(
            dataclasses.replace(PHONE, description="x"),
            [Line(position=3, dn="1"), Line(position=3, dn="2")],
        )
    assert await store.devices.get(PHONE.name) == relined


async def test_device_delete_takes_lines(store: Store) -> None:
    await store.profiles.add(OAUTH)
    await store.devices.add(PHONE, LINES)
    assert await store.devices.delete(PHONE.name) is True
    assert await store.devices.delete(PHONE.name) is False
    await store.devices.add(PHONE)  # no line left behind under that name
    assert (await store.devices.get(PHONE.name)).lines == ()  # type: ignore[union-attr]


async def test_device_rename(store: Store) -> None:
    await store.profiles.add(OAUTH)
    await store.devices.add(PHONE, LINES)
    renamed = await store.devices.rename(PHONE.name, "SEP665544332211")
    assert renamed.name == "SEP665544332211"
    assert renamed.lines == LINES
    assert await store.devices.get(PHONE.name) is None
    with pytest.raises(NotFound):
        await store.devices.rename(PHONE.name, "SEPX")
    await store.devices.add(PHONE)
    with pytest.raises(AlreadyExists):
        await store.devices.rename("SEP665544332211", PHONE.name)
    assert (await store.devices.get("SEP665544332211")).lines == LINES  # type: ignore[union-attr]
    assert (await store.devices.get(PHONE.name)).lines == ()  # type: ignore[union-attr]
