"""MRA service domains (issue 4 point 7): name and domains checked, one default,
a domain a phone names cannot be deleted; a refusal changes nothing."""

from __future__ import annotations

import dataclasses

import pytest

from sipoauth import admin
from sipoauth.store import Device, SecurityProfile, Store

from ._state import snapshot


async def test_add_list_update_delete(store: Store) -> None:
    corp = await admin.add_mra_domain(
        store, "Corp", ["MRA.Example.com.", "mra.example.com", "edge.example.net"], is_default=True
    )
    assert (corp.name, corp.is_default, corp.domains) == (
        "Corp",
        True,
        ("mra.example.com", "edge.example.net"),
    )
    lab = await admin.add_mra_domain(store, "Lab", ["lab.example.org"], is_default=True)
    assert lab.is_default
    assert [(d.name, d.is_default) for d in await admin.list_mra_domains(store)] == [
        ("Corp", False),
        ("Lab", True),
    ]
    changed = await admin.update_mra_domain(store, "Corp", is_default=True)
    assert changed.is_default and changed.domains == corp.domains
    assert not (await admin.get_mra_domain(store, "Lab")).is_default
    changed = await admin.update_mra_domain(store, "Corp", domains=["new.example.com"])
    assert (changed.domains, changed.is_default) == (("new.example.com",), True)
    await admin.delete_mra_domain(store, "Lab")
    assert [d.name for d in await admin.list_mra_domains(store)] == ["Corp"]
    actions = [(r.action, r.object_id) for r in await admin.list_audit(store)]
    assert actions == [
        ("delete", "Lab"),
        ("update", "Corp"),
        ("update", "Corp"),
        ("add", "Lab"),
        ("add", "Corp"),
    ]


@pytest.mark.parametrize(
    ("name", "domains", "message"),
    [
        ("", ["a.example.com"], "1-128 printable characters"),
        ("x" * 129, ["a.example.com"], "1-128 printable characters"),
        ("tab\tname", ["a.example.com"], "printable"),
        ("Corp", [], "at least one domain"),
        ("Corp", ["not a domain"], "a DNS name"),
        ("Corp", ["localhost"], "a DNS name"),
        ("Corp", ["10.0.0.1"], "a DNS name"),
        ("Corp", [f"d{i}.example.com" for i in range(33)], "at most 32"),
    ],
)
async def test_add_refusals_change_nothing(
    store: Store, name: str, domains: list[str], message: str
) -> None:
    before = await snapshot(store)
    with pytest.raises(admin.InvalidValue, match=message):
        await admin.add_mra_domain(store, name, domains)
    assert await snapshot(store) == before


async def test_duplicates_and_unknown(store: Store) -> None:
    await admin.add_mra_domain(store, "Corp", ["mra.example.com"])
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match="exists already"):
        await admin.add_mra_domain(store, "Corp", ["other.example.com"], is_default=True)
    with pytest.raises(admin.NotFound):
        await admin.update_mra_domain(store, "Nope", is_default=True)
    with pytest.raises(admin.InvalidValue):
        await admin.update_mra_domain(store, "Corp", domains=["bad domain"], is_default=True)
    with pytest.raises(admin.NotFound):
        await admin.delete_mra_domain(store, "Nope")
    assert await snapshot(store) == before


async def test_a_domain_phones_name_cannot_be_deleted(store: Store) -> None:
    await admin.add_mra_domain(store, "Corp", ["mra.example.com"])
    await store.profiles.add(
        SecurityProfile(name="p", device_type="x", security_mode="encrypted", transport="TLS")
    )
    phone = Device(
        name="SEP001122334455",
        model="8851",
        device_type="desk",
        profile_name="p",
        allow_activation_via_mra=True,
        mra_service_domain="Corp",
    )
    await store.devices.add(phone)
    await store.devices.add(dataclasses.replace(phone, name="SEP001122334466"))
    before = await snapshot(store)
    with pytest.raises(admin.Conflict) as refused:
        await admin.delete_mra_domain(store, "Corp")
    assert "SEP001122334455, SEP001122334466" in refused.value.message
    assert await snapshot(store) == before
