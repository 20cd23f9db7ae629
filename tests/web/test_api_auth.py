"""Authentication of the REST API: Basic, bearer tokens, throttling (issue 4)."""

from __future__ import annotations

import hashlib

import pytest

from sipoauth import admin

from ._support import ADMIN, PASSWORD, Api, basic, snapshot

CHALLENGE = 'Basic realm="sipoauth", Bearer realm="sipoauth"'


async def test_no_credentials_401_with_both_challenges(api: Api) -> None:
    async with api.client(auth=None) as client:
        for method, path in (
            ("GET", "/parameters"),
            ("POST", "/devices"),
            ("DELETE", "/users/alice"),
            ("GET", "/no/such/route"),
        ):
            r = await client.request(method, path)
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["www-authenticate"] == CHALLENGE
            assert r.headers["cache-control"] == "no-store"
            assert r.json()["error"] == "unauthorized"


async def test_unauthenticated_bad_body_is_401_not_a_validation_error(api: Api) -> None:
    """The check comes before the body is read: a stranger learns nothing from it."""
    async with api.client(auth=None) as client:
        r = await client.post(
            "/devices", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        basic(ADMIN, "wrong-password"),
        basic("nobody", PASSWORD),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "YWRtaW4="},  # "admin", no colon
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Digest username=admin"},
    ],
)
async def test_wrong_credentials_401(api: Api, header: dict[str, str]) -> None:
    async with api.client(auth=None) as client:
        r = await client.get("/parameters", headers=header)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == CHALLENGE
        assert PASSWORD not in r.text


async def test_basic_success_is_remembered_for_a_minute_by_hash(api: Api) -> None:
    async with api.client() as client:
        for _ in range(5):
            assert (await client.get("/parameters")).status_code == 200
        assert api.checks == [ADMIN]  # argon2 once
        api.clock.advance(61)
        assert (await client.get("/license")).status_code == 200
        assert api.checks == [ADMIN, ADMIN]
    # a different password is never served from the cache
    async with api.client(auth=(ADMIN, PASSWORD + "x")) as client:
        assert (await client.get("/parameters")).status_code == 401
    assert api.checks == [ADMIN, ADMIN, ADMIN]


async def test_bearer_token_issue_use_revoke(api: Api) -> None:
    async with api.client() as client:
        r = await client.post("/auth/tokens")
        assert r.status_code == 201, r.text
        body = r.json()
        token = body["access_token"]
        assert body["token_type"] == "Bearer" and body["expires_in"] == 8 * 3600
        assert body["username"] == ADMIN
    stored = await api.store.admin_tokens.get(hashlib.sha256(token.encode()).hexdigest())
    assert stored is not None and stored.username == ADMIN
    assert stored.last_used_at is None
    checks = len(api.checks)
    bearer = {"Authorization": f"Bearer {token}"}
    async with api.client(auth=None, headers=bearer) as client:
        r = await client.get("/parameters")
        assert r.status_code == 200
        assert len(api.checks) == checks  # no argon2 for a token
        touched = await api.store.admin_tokens.get(stored.token_hash)
        assert touched is not None and touched.last_used_at is not None
        # a token cannot mint tokens (a stolen one could live for ever)
        r = await client.post("/auth/tokens")
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        # changes made with it are audited as the administrator, through the API
        r = await client.put("/parameters/SIP Realm Station", json={"value": "realm-b"})
        assert r.status_code == 200, r.text
        assert (await client.delete("/auth/tokens/current")).status_code == 204
        r = await client.get("/parameters")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == CHALLENGE
    assert await api.store.admin_tokens.get(stored.token_hash) is None
    rows = await admin.list_audit(api.store, actor=ADMIN)
    assert [(r.action, r.object_type, r.interface) for r in rows] == [
        ("revoke", "api-token", "api"),
        ("set", "parameter", "api"),
        ("issue", "api-token", "api"),
    ]
    assert token not in str([r.detail for r in rows])


async def test_revoking_without_a_token_is_refused(api: Api) -> None:
    async with api.client() as client:
        r = await client.delete("/auth/tokens/current")
        assert r.status_code == 400


async def test_bearer_token_expires_after_eight_hours(api: Api) -> None:
    async with api.client() as client:
        token = (await client.post("/auth/tokens")).json()["access_token"]
    async with api.client(auth=None, headers={"Authorization": f"Bearer {token}"}) as client:
        api.clock.advance(8 * 3600 - 5)
        assert (await client.get("/license")).status_code == 200
        api.clock.advance(10)
        r = await client.get("/license")
        assert r.status_code == 401 and r.headers["www-authenticate"] == CHALLENGE


async def test_bearer_token_of_a_disabled_admin_is_refused(api: Api) -> None:
    async with api.client() as client:
        token = (await client.post("/auth/tokens")).json()["access_token"]
    await api.store.admins.set_active(ADMIN, False)
    async with api.client(auth=None, headers={"Authorization": f"Bearer {token}"}) as client:
        assert (await client.get("/license")).status_code == 401


async def test_failed_basic_sign_ins_are_throttled_per_user(api: Api) -> None:
    before = await snapshot(api.store)
    async with api.client(auth=(ADMIN, "wrong-password")) as client:
        statuses = [(await client.get("/parameters")).status_code for _ in range(5)]
        assert statuses == [401] * 5
        r = await client.get("/parameters")
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "too_many_requests"
    checks = len(api.checks)
    # held back: even the right password is not checked now
    async with api.client() as client:
        r = await client.put("/parameters/SIP Realm Station", json={"value": "x"})
        assert r.status_code == 429
    assert len(api.checks) == checks
    assert await snapshot(api.store) == before


async def test_openapi_and_docs_need_no_credentials(api: Api) -> None:
    async with api.client(auth=None) as client:
        r = await client.get("/openapi.json")
        assert r.status_code == 200
        doc = r.json()
        assert set(doc["components"]["securitySchemes"]) == {"basic", "bearer"}
        r = await client.get("/docs")
        assert r.status_code == 200 and "swagger" in r.text.lower()
