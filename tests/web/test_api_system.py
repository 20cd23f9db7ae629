"""Parameters, servers, licensing and the mode, keys through the REST API."""

from __future__ import annotations

import dataclasses

from sipoauth import admin

from ._checks import last_audit, refused
from ._support import NODE, Api

ACCESS = "OAuth Access Token Expiry Timer (minutes)"


async def test_parameters(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/parameters")
        assert r.status_code == 200
        params = {p["name"]: p for p in r.json()}
        assert params[ACCESS]["value"] == 60 and params[ACCESS]["is_default"]
        assert params[ACCESS]["range"] == "1–1440"
        r = await client.get("/parameters/enterprise.oauth_access_token_minutes")
        assert r.json()["name"] == ACCESS
        r = await client.put(f"/parameters/{ACCESS}", json={"value": 30})
        assert r.status_code == 200, r.text
        assert r.json()["value"] == 30 and r.json()["changed"]
        assert await last_audit(api.store) == [
            ("set", "parameter", "enterprise.oauth_access_token_minutes")
        ]
        r = await client.put("/parameters/OAuth with Refresh Login Flow", json={"value": True})
        assert r.json()["value"] is True and r.json()["display"] == "Enabled"
        r = await client.put(
            "/parameters/OAuth Access Token for Devices", json={"value": "Explicit"}
        )
        assert r.json()["value"] == "explicit"
        r = await client.post(f"/parameters/{ACCESS}/reset")
        assert r.json()["value"] == 60 and r.json()["is_default"]
        assert await last_audit(api.store) == [
            ("reset", "parameter", "enterprise.oauth_access_token_minutes")
        ]
        body = await refused(api, client, 422, "PUT", f"/parameters/{ACCESS}", json={"value": 0})
        assert "between 1 and 1440" in body["message"]
        await refused(
            api, client, 422, "PUT", "/parameters/SIP Realm Station", json={"value": 'a"b'}
        )
        await refused(api, client, 404, "GET", "/parameters/no such parameter")
        await refused(api, client, 404, "PUT", "/parameters/nope", json={"value": "1"})
        await refused(api, client, 422, "PUT", f"/parameters/{ACCESS}", json={"value": [1]})
        await refused(api, client, 422, "PUT", f"/parameters/{ACCESS}", json={})


async def test_servers_and_ports(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/servers")
        assert [s["name"] for s in r.json()] == [NODE]
        r = await client.post("/servers", json={"name": "sub1", "host": "192.0.2.7"})
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "subscriber" and r.json()["oauth_port"] == 5090
        r = await client.patch("/servers/sub1/ports", json={"oauth_port": 5190})
        assert r.status_code == 200 and r.json()["oauth_port"] == 5190
        assert r.json()["mra_port"] == 5091
        assert await last_audit(api.store) == [("set-ports", "server", "sub1")]
        services = {
            (s.node_name, s.service): s.restart_pending
            for s in await api.store.node_services.list()
        }
        assert services[("sub1", "callmanager")]
        assert (await client.get("/servers/sub1")).json()["oauth_port"] == 5190
        body = await refused(
            api, client, 422, "PATCH", "/servers/sub1/ports", json={"mra_port": 80}
        )
        assert "1024-49151" in body["message"]
        await refused(api, client, 422, "PATCH", "/servers/sub1/ports", json={"mra_port": 5190})
        await refused(api, client, 422, "PATCH", "/servers/sub1/ports", json={"ssh_port": 22})
        await refused(api, client, 404, "PATCH", "/servers/nope/ports", json={"mra_port": 5191})
        await refused(
            api,
            client,
            409,
            "POST",
            "/servers",
            json={"name": "pub2", "host": "h", "role": "publisher"},
        )
        await refused(api, client, 409, "POST", "/servers", json={"name": "sub1", "host": "x"})
        await refused(api, client, 422, "POST", "/servers", json={"name": "sub 2", "host": "x"})
        await refused(api, client, 409, "DELETE", f"/servers/{NODE}")
        assert (await client.delete("/servers/sub1")).status_code == 204
        await refused(api, client, 404, "GET", "/servers/sub1")


async def test_license_and_mode(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/license")
        assert r.json()["registration"] == "evaluation"
        body = await refused(api, client, 409, "POST", "/sip-oauth-mode/enable")
        assert "export-controlled" in body["message"]
        await refused(api, client, 409, "PUT", "/license/export-controlled", json={"allowed": True})
        r = await client.post(
            "/license/register", json={"virtual_account": "lab", "allow_export_controlled": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["registration"] == "registered"
        assert r.json()["product_instance"] == NODE
        r = await client.post("/sip-oauth-mode/enable")
        assert r.status_code == 200, r.text
        assert r.json()["enabled"] and r.json()["restart_pending"] == [NODE]
        assert r.json()["nodes"][0]["restart_pending"]
        assert await admin.sip_oauth_mode(api.store)
        assert await last_audit(api.store) == [("enable", "sip-oauth-mode", "cluster")]
        await refused(api, client, 409, "POST", "/license/deregister")
        await refused(
            api, client, 409, "PUT", "/license/export-controlled", json={"allowed": False}
        )
        r = await client.get("/sip-oauth-mode")
        assert r.json()["enabled"] and r.json()["nodes"][0]["node_name"] == NODE
        assert (await client.post("/sip-oauth-mode/disable")).json()["enabled"] is False
        r = await client.put("/license/export-controlled", json={"allowed": False})
        assert r.json()["export_controlled_allowed"] is False
        r = await client.post("/license/deregister")
        assert r.json()["registration"] == "unregistered"
        await refused(api, client, 422, "POST", "/license/register", json={"virtual_account": ""})


async def test_publisher_only_commands_refused_on_a_subscriber(api: Api) -> None:
    """The API answers for the node it runs on: a subscriber's API refuses (403)."""
    await admin.add_server(api.store, "sub1", "192.0.2.7")
    subscriber = api.app_of(dataclasses.replace(api.context, node_name="sub1"))
    async with api.client(app=subscriber) as client:
        body = await refused(
            api, client, 403, "POST", "/license/register", json={"virtual_account": "lab"}
        )
        assert body["error"] == "not_publisher"
        await refused(api, client, 403, "POST", "/sip-oauth-mode/enable")
        await refused(api, client, 403, "POST", "/keys/signing/regenerate", json={"confirm": True})


async def test_keys(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/keys/signing")
        assert r.status_code == 200
        before = r.json()
        assert before["algorithm"] == "RS256" and "PRIVATE" not in r.text
        await refused(api, client, 422, "POST", "/keys/signing/regenerate", json={})
        await refused(api, client, 422, "POST", "/keys/signing/regenerate", json={"confirm": False})
        r = await client.post("/keys/signing/regenerate", json={"confirm": True})
        assert r.status_code == 200, r.text
        assert r.json()["kid"] != before["kid"]
        assert await last_audit(api.store) == [("regenerate", "authz-key", "signing")]
        r = await client.get("/keys/encryption")
        assert r.json()["algorithm"] == "dir+A256GCM"
