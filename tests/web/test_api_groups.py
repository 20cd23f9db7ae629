"""CallManager groups through the REST API; a device's group, an edge's
public address and ports."""

from __future__ import annotations

from sipoauth import admin

from ._checks import last_audit, refused
from ._support import NODE, Api

PHONE = "SEP001122334455"
SUB = "node2"


async def _cluster(api: Api) -> None:
    await admin.add_server(api.store, SUB, "10.0.0.2")


async def test_groups(api: Api) -> None:
    await _cluster(api)
    async with api.client() as client:
        r = await client.post(
            "/callmanager-groups",
            json={"name": "Sub first", "nodes": [SUB, NODE], "description": "DC 2"},
        )
        assert r.status_code == 201, r.text
        assert (r.json()["nodes"], r.json()["devices"]) == ([SUB, NODE], 0)
        assert await last_audit(api.store) == [("add", "callmanager-group", "Sub first")]
        await refused(api, client, 409, "POST", "/callmanager-groups",
                      json={"name": "Sub first", "nodes": [NODE]})  # fmt: skip
        for body, status, words in (
            ({"name": "x", "nodes": []}, 422, "1 to 16 servers"),
            ({"name": "x", "nodes": [NODE, NODE]}, 422, "appears twice"),
            ({"name": "x", "nodes": ["ghost"]}, 404, "'ghost' is not configured"),
            ({"name": "Default", "nodes": [NODE]}, 422, "every server of the cluster"),
            ({"name": "x", "nodes": [f"n{i}" for i in range(17)]}, 422, "nodes"),
            ({"name": "x", "nodes": [NODE], "extra": 1}, 422, "extra"),
        ):
            body_out = await refused(api, client, status, "POST", "/callmanager-groups", json=body)
            assert words in body_out["message"] or words == body_out.get("field"), body_out

        r = await client.post(
            "/devices",
            json={"name": PHONE, "model": "8851", "callmanager_group": "Sub first"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["callmanager_group"] == "Sub first"
        unknown = {"name": "CSFALICE", "model": "CSF", "callmanager_group": "Nope"}
        await refused(api, client, 404, "POST", "/devices", json=unknown)
        [listed] = (await client.get("/callmanager-groups")).json()
        assert (listed["name"], listed["devices"]) == ("Sub first", 1)
        assert (await client.get("/callmanager-groups", params={"contains": "dc 2"})).json()
        assert (await client.get("/callmanager-groups", params={"contains": "zz"})).json() == []
        r = await client.get("/callmanager-groups/Sub first/nodes")
        servers = [(s["name"], s["host"]) for s in r.json()]
        assert servers == [(SUB, "10.0.0.2"), (NODE, "localhost")]
        r = await client.get("/callmanager-groups/default/nodes")
        assert [s["name"] for s in r.json()] == [NODE, SUB]  # publisher first
        await refused(api, client, 404, "GET", "/callmanager-groups/Nope/nodes")
        await refused(api, client, 404, "GET", "/callmanager-groups/Default")

        r = await client.patch("/callmanager-groups/Sub first", json={"description": "d"})
        assert r.status_code == 200 and r.json()["description"] == "d"
        assert not (await admin.get_device(api.store, PHONE)).reset_required
        r = await client.patch("/callmanager-groups/Sub first", json={"nodes": [NODE]})
        assert r.status_code == 200, r.text
        assert (r.json()["nodes"], r.json()["devices"]) == ([NODE], 1)
        assert (await admin.get_device(api.store, PHONE)).reset_required
        await refused(api, client, 422, "PATCH", "/callmanager-groups/Sub first",
                      json={"nodes": None})  # fmt: skip
        await refused(api, client, 404, "PATCH", "/callmanager-groups/Nope",
                      json={"description": "x"})  # fmt: skip
        body = await refused(api, client, 409, "DELETE", "/callmanager-groups/Sub first")
        assert PHONE in body["message"]
        await refused(api, client, 409, "DELETE", f"/servers/{NODE}")  # the publisher anyway

        r = await client.patch(f"/devices/{PHONE}", json={"callmanager_group": None})
        assert r.status_code == 200 and r.json()["callmanager_group"] is None
        r = await client.patch(f"/devices/{PHONE}", json={"callmanager_group": "Sub first"})
        assert r.json()["callmanager_group"] == "Sub first"
        r = await client.patch(f"/devices/{PHONE}", json={"callmanager_group": "Default"})
        assert r.json()["callmanager_group"] is None
        assert (await client.delete("/callmanager-groups/Sub first")).status_code == 204
        assert await last_audit(api.store) == [("delete", "callmanager-group", "Sub first")]
        await refused(api, client, 404, "GET", "/callmanager-groups/Sub first")


async def test_a_server_in_a_group_is_kept(api: Api) -> None:
    await _cluster(api)
    await admin.add_group(api.store, name="G", nodes=[SUB])
    async with api.client() as client:
        body = await refused(api, client, 409, "DELETE", f"/servers/{SUB}")
        assert "in CallManager group(s) G" in body["message"]


async def test_edge_public_address(api: Api) -> None:
    async with api.client() as client:
        r = await client.post("/edges", json={"address": "192.0.2.50"})
        assert r.status_code == 201, r.text
        edge = r.json()
        assert (edge["public_host"], edge["public_sip_port"], edge["public_web_port"]) == (
            None,
            5061,
            8443,
        )
        r = await client.post(
            "/edges",
            json={
                "address": "10.0.0.5",
                "public_host": "ExpE.example.com",
                "public_sip_port": 5062,
            },
        )
        assert (r.json()["public_host"], r.json()["public_sip_port"]) == ("expe.example.com", 5062)
        r = await client.patch("/edges/10.0.0.5", json={"public_web_port": 443})
        assert (r.json()["public_host"], r.json()["public_web_port"]) == ("expe.example.com", 443)
        r = await client.patch("/edges/10.0.0.5", json={"public_host": None})
        assert (r.json()["public_host"], r.json()["public_sip_port"]) == (None, 5062)
        for body in (
            {"public_sip_port": 0},
            {"public_web_port": 65536},
            {"public_sip_port": "5061"},
            {"public_sip_port": None},
            {"public_host": "bad host!"},
        ):
            await refused(api, client, 422, "PATCH", "/edges/10.0.0.5", json=body)
            await refused(
                api, client, 422, "POST", "/edges", json={"address": "198.51.100.1", **body}
            )
