"""Admin pages: Phone Security Profile (R9), Phone (R12.1), Expressway-C (R6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sipoauth import admin

from ._pages_support import browser
from ._support import Api, snapshot
from .test_pages_system import error_of

PROFILE = {
    "name": "8851 OAuth",
    "device_type": "8851",
    "description": "desk phones",
    "security_mode": "encrypted",
    "transport": "TLS",
    "oauth": "on",
}


async def test_security_profile(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/profiles")
        assert admin.OAUTH_PROFILE in r.text
        r = await b.get("/admin/profiles/new")
        assert (
            "data-oauth-checkbox" in r.text and "only with Device Security Mode Encrypted" in r.text
        )
        before = await snapshot(api.store)
        # R9: the server keeps the rule whatever the page let through.
        r = await b.post("/admin/profiles/new", {**PROFILE, "transport": "TCP"})
        assert r.status_code == 422
        assert "requires Device Security Mode 'Encrypted'" in error_of(r.text, "oauth")
        r = await b.post("/admin/profiles/new", {**PROFILE, "digest": "on"})
        assert "Digest Authentication is not supported" in error_of(r.text, "digest")
        r = await b.post("/admin/profiles/new", {**PROFILE, "name": ""})
        assert "profile name" in error_of(r.text, "name")
        assert await snapshot(api.store) == before
        r = await b.post("/admin/profiles/new", PROFILE)
        assert r.status_code == 303, r.text
        record = await admin.get_profile(api.store, "8851 OAuth")
        assert (record.oauth, record.security_mode, record.transport) == (True, "encrypted", "TLS")
        r = await b.get(r.headers["location"])
        assert "Added profile 8851 OAuth" in r.text and "checked" in r.text
        r = await b.post(
            "/admin/profiles/edit?name=8851+OAuth", {**PROFILE, "description": "changed"}
        )
        assert r.status_code == 303
        assert (await admin.get_profile(api.store, "8851 OAuth")).description == "changed"
        r = await b.get("/admin/profiles?field=device_type&op=is&text=8851")
        assert "1 phone security profiles found" in r.text
        r = await b.get("/admin/profiles/delete?name=8851+OAuth")
        assert "Delete phone security profile 8851 OAuth?" in r.text
        r = await b.post("/admin/profiles/delete?name=8851+OAuth", {"confirm": "yes"})
        assert r.status_code == 303
        assert "8851 OAuth" not in [p.name for p in await admin.list_profiles(api.store)]


PHONE = "SEP001122334455"


def phone_form(**changes: str) -> dict[str, str]:
    form = {
        "name": PHONE,
        "model": "8851",
        "description": "reception",
        "owner": "",
        "lines": "1001, 1002",
        "callmanager_group": "",
        "profile": admin.OAUTH_PROFILE,
        "oauth_firmware": "on",
        "requires_activation_code": "on",
        "allow_activation_via_mra": "on",
        "mra_service_domain": "MRA",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != "off"}


async def test_phone_r12_1(api: Api) -> None:
    await admin.add_mra_domain(api.store, "MRA", ["mra.example.com"], is_default=True)
    async with browser(api) as b:
        r = await b.get("/admin/phones/new")
        assert "Allow Activation Code via MRA" in r.text and "MRA" in r.text
        before = await snapshot(api.store)
        r = await b.post("/admin/phones/new", phone_form(name="SEPXYZ"))
        assert r.status_code == 422 and "SEP or BAT" in error_of(r.text, "name")
        r = await b.post("/admin/phones/new", phone_form(lines="12a"))
        assert "directory number" in error_of(r.text, "lines")
        r = await b.post("/admin/phones/new", phone_form(model="7960"))
        assert r.status_code == 422 and "R1.1" in r.text
        assert await snapshot(api.store) == before
        r = await b.post("/admin/phones/new", phone_form())
        assert r.status_code == 303, r.text
        device = await admin.get_device(api.store, PHONE)
        assert device.allow_activation_via_mra and device.mra_service_domain == "MRA"
        assert [line.dn for line in device.lines] == ["1001", "1002"]
        edit = f"/admin/phones/edit?name={PHONE}"
        r = await b.post(edit, phone_form(description="front desk", allow_activation_via_mra="off"))
        assert r.status_code == 303
        device = await admin.get_device(api.store, PHONE)
        assert not device.allow_activation_via_mra and device.reset_required
        r = await b.get(edit)
        assert "Reset required" in r.text
        r = await b.post(f"/admin/phones/apply-config?name={PHONE}")
        assert r.status_code == 303
        device = await admin.get_device(api.store, PHONE)
        assert not device.reset_required and device.config_version == 2
        # Reset: a confirmation first
        r = await b.get(f"/admin/phones/reset?name={PHONE}")
        assert "Reset SEP001122334455?" in r.text
        r = await b.post(f"/admin/phones/reset?name={PHONE}", {"confirm": "yes"})
        assert (await admin.get_device(api.store, PHONE)).config_version == 3
        # The activation code: shown once
        r = await b.post(f"/admin/phones/activation-code?name={PHONE}")
        assert r.status_code == 303
        r = await b.get(edit)
        code = re.search(r'id="activation-code">([0-9-]{19}) ', r.text)
        assert code, r.text
        r = await b.get(edit)
        assert code.group(1) not in r.text
        codes = await admin.list_activation_codes(api.store, now=datetime.now(UTC))
        assert [c.device for c in codes] == [PHONE]
        r = await b.post(f"/admin/phones/release-code?name={PHONE}", {"confirm": "yes"})
        assert r.status_code == 303
        assert await admin.list_activation_codes(api.store, now=datetime.now(UTC)) == []
        # find and list, paging
        for i in range(3):
            await admin.add_device(api.store, name=f"SEP0000000000{i:02d}", model="8851", lines=[])
        r = await b.get("/admin/phones?field=name&text=SEP0000&rows=25")
        assert "3 phones found" in r.text
        r = await b.get("/admin/phones?field=model&text=8851&rows=25&page=1")
        assert "4 phones found" in r.text and "Page 1 of 1" in r.text
        # delete with confirmation
        r = await b.get(f"/admin/phones/delete?name={PHONE}")
        assert "Delete SEP001122334455?" in r.text
        r = await b.post(f"/admin/phones/delete?name={PHONE}", {"confirm": "yes"})
        assert r.status_code == 303
        assert PHONE not in [d.name for d in await api.store.devices.list()]


async def test_expressway_c(api: Api) -> None:
    async with browser(api) as b:
        form = {
            "address": "192.0.2.50",
            "description": "Expressway-C",
            "x509_names": "expc.example.com\nexpc2.example.com",
            "domain": "",
            "public_host": "expe.example.com",
            "public_sip_port": "5061",
            "public_web_port": "8443",
        }
        before = await snapshot(api.store)
        r = await b.post("/admin/edges/new", {**form, "address": "not an address"})
        assert r.status_code == 422 and "not an IP address" in error_of(r.text, "address")
        r = await b.post("/admin/edges/new", {**form, "public_sip_port": "0"})
        assert "out of range" in error_of(r.text, "public_sip_port")
        r = await b.post("/admin/edges/new", {**form, "x509_names": "bad name!"})
        assert "X.509" in error_of(r.text, "x509_names")
        assert await snapshot(api.store) == before
        r = await b.post("/admin/edges/new", form)
        assert r.status_code == 303, r.text
        [edge] = await admin.find_edges(api.store)
        assert edge.x509_names == ("expc.example.com", "expc2.example.com")
        assert edge.public_host == "expe.example.com"
        r = await b.get("/admin/edges?field=names&op=contains&text=expc2")
        assert "1 Expressway-C entries found" in r.text
        r = await b.post(
            "/admin/edges/edit?address=192.0.2.50",
            {**form, "x509_names": "expc.example.com", "domain": "other.example"},
        )
        assert r.status_code == 303
        [edge] = await admin.find_edges(api.store)
        assert edge.x509_names == ("expc.example.com",) and edge.domain == "other.example"
        r = await b.get("/admin/edges/delete?address=192.0.2.50")
        assert "Delete the Expressway-C entry 192.0.2.50?" in r.text
        r = await b.post("/admin/edges/delete?address=192.0.2.50", {"confirm": "yes"})
        assert r.status_code == 303 and await admin.find_edges(api.store) == []


async def test_import_phones(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/phones")
        assert "Import (CSV)" in r.text
        r = await b.get("/admin/phones/import")
        assert "name,model" in r.text
        text = "name,model,lines\nSEP00000000AA01,8851,1001;1002\nSEPBAD,8851,1003\n"
        r = await b.post("/admin/phones/import", {"csv": text})
        assert r.status_code == 200 and "1 added, 1 refused" in r.text
        assert [d.name for d in await api.store.devices.list()] == ["SEP00000000AA01"]
        r = await b.post("/admin/phones/import", {"csv": "wrong,header\nx,y\n"})
        assert r.status_code == 422 and error_of(r.text, "csv")
