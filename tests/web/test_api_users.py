"""End users, registrations view and the audit log through the REST API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sipoauth import admin
from sipoauth.store import Registration

from ._checks import refused
from ._support import ADMIN, NODE, Api

PHONE = "SEP001122334455"


async def test_users(api: Api) -> None:
    async with api.client() as client:
        r = await client.post(
            "/users",
            json={"user_id": "alice", "display_name": "Alice", "password": "alice-password"},
        )
        assert r.status_code == 201, r.text
        user = r.json()
        assert user["has_password"] and user["active"] and user["devices"] == []
        assert "alice-password" not in r.text and "argon2" not in r.text
        assert await admin.verify_user_password(api.store, "alice", "alice-password")
        await refused(api, client, 409, "POST", "/users", json={"user_id": "alice"})
        await refused(
            api, client, 422, "POST", "/users", json={"user_id": "bob", "password": "short"}
        )
        await refused(api, client, 422, "POST", "/users", json={"user_id": "SEP001122334455"})
        await admin.add_device(api.store, name=PHONE, model="8851", lines=["1001"], owner="alice")
        r = await client.get("/users/alice")
        assert r.json()["devices"] == [PHONE]
        assert [u["user_id"] for u in (await client.get("/users")).json()] == ["alice"]
        r = await client.put("/users/alice/password", json={"password": "another-password"})
        assert r.status_code == 204
        assert await admin.verify_user_password(api.store, "alice", "another-password")
        await refused(api, client, 422, "PUT", "/users/alice/password", json={"password": "x"})
        await refused(api, client, 404, "PUT", "/users/bob/password", json={"password": "x" * 10})
        r = await client.post("/users/alice/deactivate")
        assert r.json() == {"user_id": "alice", "active": False, "grants_revoked": 0}
        assert not (await client.get("/users/alice")).json()["active"]
        r = await client.post("/users/alice/activate")
        assert r.json()["active"] is True
        await refused(api, client, 404, "POST", "/users/bob/activate")
        assert (await client.delete("/users/alice")).status_code == 204
        await refused(api, client, 404, "GET", "/users/alice")
        await refused(api, client, 404, "DELETE", "/users/alice")


async def test_registrations_view(api: Api) -> None:
    await admin.add_device(api.store, name=PHONE, model="8851", lines=["1001"])
    now = api.clock.now()
    await api.store.registrations.upsert_many(
        [
            Registration(
                aor="sip:1001@localhost",
                instance="<urn:uuid:1>",
                device_name=PHONE,
                contact="sip:1001@192.0.2.10:5061;transport=tls",
                node_name=NODE,
                transport="TLS",
                path=("<sip:expc.example.com;lr>",),
                expires_at=now + timedelta(seconds=100),
                call_id="c",
                cseq=1,
            )
        ]
    )
    async with api.client() as client:
        r = await client.get("/registrations")
        assert r.status_code == 200
        [view] = r.json()
        assert (view["device"], view["line"], view["port"], view["via_edge"]) == (
            PHONE,
            "1001",
            5091,
            True,
        )
        assert view["seconds_left"] == 100
        assert (await client.get("/registrations", params={"node": "other"})).json() == []
        r = await client.get("/registrations", params={"device": PHONE.lower()})
        assert len(r.json()) == 1


async def test_audit_log(api: Api) -> None:
    async with api.client() as client:
        await client.put("/parameters/SIP Realm Station", json={"value": "realm-a"})
        await client.post("/edges", json={"address": "192.0.2.50"})
        r = await client.get("/audit")
        rows = r.json()
        assert [(x["action"], x["object_type"]) for x in rows[:2]] == [
            ("add", "edge"),
            ("set", "parameter"),
        ]
        assert all(x["interface"] == "api" and x["actor"] == ADMIN for x in rows[:2])
        r = await client.get("/audit", params={"object_type": "edge", "limit": 5})
        assert [x["object_id"] for x in r.json()] == ["192.0.2.50"]
        since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert (await client.get("/audit", params={"since": since})).json() == []
        assert (await client.get("/audit", params={"actor": "nobody"})).json() == []
        await refused(api, client, 422, "GET", "/audit", params={"limit": 10_001})
