"""Security profiles, devices, activation codes and CSV through the REST API (R1, R9, R12.1)."""

from __future__ import annotations

import csv
import io

from sipoauth import admin

from ._checks import last_audit, refused
from ._support import Api

PHONE = "SEP001122334455"
OAUTH = {"security_mode": "Encrypted", "transport": "TLS", "oauth": True}


async def test_profiles(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/profiles")
        assert {p["name"] for p in r.json()} == {admin.DEFAULT_PROFILE, admin.OAUTH_PROFILE}
        r = await client.post(
            "/profiles", json={"name": "8851 OAuth", "device_type": "8851", **OAUTH}
        )
        assert r.status_code == 201, r.text
        assert r.json()["security_mode"] == "encrypted" and r.json()["phones"] == 0
        assert await last_audit(api.store) == [("add", "security-profile", "8851 OAuth")]
        body = await refused(
            api, client, 422, "POST", "/profiles", json={"name": "bad", **OAUTH, "digest": True}
        )
        assert "Digest" in body["message"]
        await refused(
            api, client, 422, "POST", "/profiles", json={"name": "b", "oauth": True}
        )  # not Encrypted + TLS
        await refused(api, client, 409, "POST", "/profiles", json={"name": "8851 OAuth"})
        await admin.add_device(
            api.store, name=PHONE, model="8851", lines=["1001"], profile="8851 OAuth"
        )
        r = await client.get("/profiles/8851 OAuth")
        assert r.json()["phones"] == 1
        await refused(api, client, 409, "DELETE", "/profiles/8851 OAuth")
        await refused(
            api, client, 422, "PATCH", "/profiles/8851 OAuth", json={"tftp_encrypted": True}
        )
        r = await client.patch(
            "/profiles/8851 OAuth", json={"transport": "TLS", "description": "d"}
        )
        assert r.status_code == 200 and r.json()["description"] == "d"
        r = await client.patch(
            "/profiles/8851 OAuth", json={"oauth": False, "security_mode": "authenticated"}
        )
        assert r.status_code == 200, r.text
        assert (await admin.get_device(api.store, PHONE)).reset_required  # R9
        r = await client.patch("/profiles/8851 OAuth", json={"name": "8851 Auth"})
        assert r.json()["name"] == "8851 Auth" and r.json()["phones"] == 1
        await refused(api, client, 404, "PATCH", "/profiles/8851 OAuth", json={"description": "x"})
        await admin.delete_device(api.store, PHONE)
        assert (await client.delete("/profiles/8851 Auth")).status_code == 204


async def test_devices(api: Api) -> None:
    async with api.client() as client:
        r = await client.post(
            "/devices",
            json={
                "name": "sep001122334455",
                "model": "8851",
                "lines": ["1001", "1002"],
                "profile": admin.OAUTH_PROFILE,
                "requires_activation_code": True,
            },
        )
        assert r.status_code == 201, r.text
        device = r.json()
        assert device["name"] == PHONE and device["device_type"] == "desk"
        assert [line["dn"] for line in device["lines"]] == ["1001", "1002"]
        assert await last_audit(api.store) == [("add", "device", PHONE)]
        await refused(api, client, 409, "POST", "/devices", json={"name": PHONE, "model": "8851"})
        body = await refused(
            api,
            client,
            422,
            "POST",
            "/devices",
            json={"name": "SEP00AABBCCDDEE", "model": "7960", "profile": admin.OAUTH_PROFILE},
        )
        assert "R1.1" in body["message"]
        await refused(
            api, client, 422, "POST", "/devices", json={"name": "PHONE1", "model": "8851"}
        )
        await refused(
            api,
            client,
            404,
            "POST",
            "/devices",
            json={"name": "CSFALICE", "model": "CSF", "profile": "nope"},
        )
        await client.post("/devices", json={"name": "CSFALICE", "model": "CSF", "lines": ["2001"]})
        r = await client.get("/devices", params={"device_type": "soft"})
        assert [d["name"] for d in r.json()["items"]] == ["CSFALICE"]
        r = await client.get("/devices", params={"limit": 1, "offset": 1})
        assert r.json()["total"] == 2 and [d["name"] for d in r.json()["items"]] == [PHONE]
        r = await client.get("/devices", params={"name_contains": "1122"})
        assert [d["name"] for d in r.json()["items"]] == [PHONE]
        r = await client.patch(f"/devices/{PHONE}", json={"description": "desk", "lines": ["1003"]})
        assert r.status_code == 200, r.text
        assert r.json()["reset_required"] and [x["dn"] for x in r.json()["lines"]] == ["1003"]
        await refused(api, client, 404, "PATCH", f"/devices/{PHONE}", json={"owner": "nobody"})
        await refused(api, client, 422, "PATCH", f"/devices/{PHONE}", json={"lines": ["1", "1"]})
        await refused(api, client, 422, "PATCH", f"/devices/{PHONE}", json={"model": None})
        r = await client.post(f"/devices/{PHONE}/reset")
        assert r.status_code == 200 and r.json()["config_version"] == 2
        assert r.json()["action"] == "reset"
        r = await client.post(f"/devices/{PHONE}/apply-config")
        assert r.json()["config_version"] == 3
        assert not (await client.get(f"/devices/{PHONE}")).json()["reset_required"]
        assert await last_audit(api.store) == [("apply-config", "device", PHONE)]
        await refused(api, client, 404, "POST", "/devices/SEP0000000000AA/reset")
        assert (await client.delete("/devices/CSFALICE")).status_code == 204
        await refused(api, client, 404, "GET", "/devices/CSFALICE")


async def test_activation_codes(api: Api) -> None:
    await admin.add_device(
        api.store, name=PHONE, model="8851", lines=["1001"], requires_activation_code=True
    )
    await admin.add_device(api.store, name="CSFALICE", model="CSF", lines=["2001"])
    async with api.client() as client:
        r = await client.post(f"/devices/{PHONE}/activation-code")
        assert r.status_code == 201, r.text
        code = r.json()["activation_code"]
        assert len(code) == 16 and code.isdigit()
        assert r.json()["display"] == admin.format_activation_code(code)
        r = await client.get("/activation-codes")
        assert [c["device"] for c in r.json()] == [PHONE]
        assert code not in r.text
        await refused(api, client, 422, "POST", "/devices/CSFALICE/activation-code")
        await refused(api, client, 404, "POST", "/devices/SEP0000000000AA/activation-code")
        assert (await client.delete(f"/devices/{PHONE}/activation-code")).status_code == 204
        await refused(api, client, 404, "DELETE", f"/devices/{PHONE}/activation-code")
        r = await client.post("/activation-codes/export", json={})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["device"] for row in rows] == [PHONE]
        assert len(rows[0]["activation_code"].replace("-", "")) == 16
        await refused(
            api, client, 422, "POST", "/activation-codes/export", json={"devices": ["CSFALICE"]}
        )
        await refused(api, client, 422, "POST", "/activation-codes/export", json={"all": True})


async def test_csv_import_reports_each_row(api: Api) -> None:
    text = (
        "name,model,lines,requires_activation_code\n"
        "SEP0011223344AA,8851,1001;1002,yes\n"
        "SEP0011223344BB,8851,1001,maybe\n"
        "PHONE,8851,,\n"
        "SEP0011223344CC,7841,2001,no\n"
    )
    async with api.client() as client:
        r = await client.post(
            "/devices/import", content=text, headers={"content-type": "text/csv; charset=utf-8"}
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["added"], report["failed"], report["ok"]) == (2, 2, False)
        assert [(row["line"], row["ok"]) for row in report["rows"]] == [
            (2, True),
            (3, False),
            (4, False),
            (5, True),
        ]
        assert "requires_activation_code" in report["rows"][1]["error"]
        assert await last_audit(api.store) == [("import", "device", "csv")]
        names = {d.name for d in await api.store.devices.list()}
        assert names == {"SEP0011223344AA", "SEP0011223344CC"}
        body = await refused(
            api,
            client,
            422,
            "POST",
            "/devices/import",
            content="colour\nred\n",
            headers={"content-type": "text/csv"},
        )
        assert "header" in body["message"]
        await refused(
            api,
            client,
            422,
            "POST",
            "/devices/import",
            content=b"name,model\n\xff\n",
            headers={"content-type": "text/csv"},
        )
