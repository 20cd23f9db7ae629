"""Revocation and introspection on a running node (RFC 7009, RFC 7662, the admin form).

docs/oauth.md "Revocation": revoking any token of a grant revokes the whole
grant; its refresh tokens go, its access tokens are refused from the moment
the node hears the ``grants`` notification and its live registrations are
dropped at once (DESIGN "Tokens"). The reference's admin form
``/ssosp/token/revoke`` and RFC 7662 introspection need an administrator's
HTTP Basic credentials.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sipoauth import admin
from sipoauth.node import Node

from ._authz import (
    ADMIN,
    BOT,
    CSF,
    SoftUser,
    assert_oauth_error,
    basic,
    cheap_admin_password,
    cheap_password_hashing,
    eventually,
    introspect,
    refresh,
    refresh_flow,
    register,
    sip,
    soft_user,
    tokens_for,
    web,
)
from ._support import Prepared

BAD_CREDENTIALS: list[dict[str, str]] = [
    {},
    basic("admin", "wrong password"),
    basic("nobody", "test-password"),
    {"Authorization": "Bearer something"},
    {"Authorization": "Basic not-base64!"},
]


@pytest.fixture(scope="module", autouse=True)
def _cheap_admin_password(prepared: Prepared) -> None:
    asyncio.run(cheap_admin_password(prepared))


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashing(monkeypatch)


async def _revoked(client: httpx.AsyncClient, *tokens: str) -> bool:
    """Every token is inactive (RFC 7662 §2.2)."""
    return all([await introspect(client, t) == {"active": False} for t in tokens])


async def _live(client: httpx.AsyncClient, *tokens: str) -> bool:
    """Every token is active."""
    return all([(await introspect(client, t))["active"] is True for t in tokens])


# -- RFC 7009 ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
async def test_rfc7009_revocation_revokes_the_grant_and_its_registration(
    prepared: Prepared, node: Node, which: str
) -> None:
    """RFC 7009 §2.1/§2.2: the client revokes a token (either kind) → 200 and the
    whole grant goes ("SHOULD also invalidate"): the refresh token is refused,
    introspection says inactive, the live registration made with the grant is
    dropped from the node and its mirror, and the next REGISTER with the access
    token gets 401 invalid_token (RFC 6750 §3.1)."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client, sip(prepared, node) as phone:
        issued = await tokens_for(client, user)
        access = issued["access_token"]
        sid = (await introspect(client, access))["sid"]
        ok = await register(phone, user.device, user.line, access, call_id="rv", cseq=1)
        assert ok.status == 200
        assert [b.sid for b in node.registrar.table if b.device == user.device] == [sid]
        await node.flush()
        assert [r.device_name for r in await node.store.registrations.list(sid=sid)] == [
            user.device
        ]

        response = await client.post(
            "/oauth/revoke", data={"token": issued[which], "client_id": CSF}
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"

        await eventually(
            lambda: all(b.sid != sid for b in node.registrar.table), "registration dropped"
        )
        await node.flush()
        assert await node.store.registrations.list(sid=sid) == []
        assert_oauth_error(await refresh(client, issued["refresh_token"]), "invalid_grant")
        assert await _revoked(client, access, issued["refresh_token"])
    # Its connection was closed with the registration; reconnected, it is told why.
    async with sip(prepared, node) as phone:
        again = await register(phone, user.device, user.line, access, call_id="rv", cseq=2)
        assert again.status == 401
        assert 'error="invalid_token"' in again.get("www-authenticate")


async def test_rfc7009_unknown_token_is_200(prepared: Prepared, node: Node) -> None:
    """RFC 7009 §2.2: an invalid or unknown token is answered 200 all the same."""
    async with web(prepared, node) as client:
        for value in ("garbage", "x" * 400, "eyJhbGciOiJkaXIifQ..a.b.c"):
            response = await client.post("/oauth/revoke", data={"token": value, "client_id": CSF})
            assert response.status_code == 200, response.text


@pytest.mark.parametrize("hint", ["refresh_token", "id_token", "no-such-type"])
async def test_rfc7009_type_hint_does_not_stop_revocation(
    prepared: Prepared, node: Node, hint: str
) -> None:
    """RFC 7009 §2.1: `token_type_hint` may be wrong or unknown to the server: it
    searches every type it supports (the hint "MAY" be ignored); the access
    token is revoked all the same. A request without a token is invalid_request."""
    user = await soft_user(node)
    async with web(prepared, node) as client:
        access = (await tokens_for(client, user))["access_token"]
        response = await client.post(
            "/oauth/revoke", data={"token": access, "token_type_hint": hint, "client_id": CSF}
        )
        assert response.status_code == 200, response.text
        assert await _revoked(client, access)
        missing = await client.post("/oauth/revoke", data={"client_id": CSF})
        assert_oauth_error(missing, "invalid_request")


async def test_rfc7009_another_clients_token_is_not_revoked(prepared: Prepared, node: Node) -> None:
    """RFC 7009 §2.1: the server checks the token was issued to the client asking;
    if not, the request is refused (an RFC 6749 §5.2 error) and nothing is revoked."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        issued = await tokens_for(client, user)
        for which in ("refresh_token", "access_token"):
            response = await client.post(
                "/oauth/revoke", data={"token": issued[which], "client_id": BOT}
            )
            assert_oauth_error(response, "invalid_grant")
        assert await _live(client, issued["access_token"], issued["refresh_token"])
        assert (await refresh(client, issued["refresh_token"])).status_code == 200


# -- the admin form /ssosp/token/revoke ----------------------------------------------------


async def test_admin_revoke_form_needs_basic_credentials(prepared: Prepared, node: Node) -> None:
    """REFERENCE-BEHAVIOUR "Tokens" + RFC 7617 §2: without an administrator's Basic
    credentials (none, wrong password, unknown administrator, another scheme) the
    form answers 401 with `WWW-Authenticate: Basic` and revokes nothing."""
    user = await soft_user(node)
    async with web(prepared, node) as client:
        access = (await tokens_for(client, user))["access_token"]
        for headers in BAD_CREDENTIALS:
            response = await client.get(
                "/ssosp/token/revoke", params={"user_id": user.user_id}, headers=headers
            )
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"].startswith("Basic ")
        assert await _live(client, access)


async def _grants(
    client: httpx.AsyncClient, user: SoftUser, *client_ids: str
) -> dict[str, list[str]]:
    """Access tokens of new grants of ``user``, per client."""
    tokens: dict[str, list[str]] = {}
    for client_id in client_ids:
        issued = await tokens_for(client, user, client_id=client_id)
        tokens.setdefault(client_id, []).append(issued["access_token"])
    return tokens


async def test_admin_revoke_form_revokes_every_grant_of_the_user(
    prepared: Prepared, node: Node
) -> None:
    """REFERENCE-BEHAVIOUR "Tokens": `GET /ssosp/token/revoke?user_id=…` revokes every
    live grant of the user and answers JSON per client; other users keep theirs."""
    await refresh_flow(node, True)
    user, bystander = await soft_user(node), await soft_user(node)
    async with web(prepared, node) as client:
        tokens = await _grants(client, user, CSF, CSF, BOT)
        theirs = (await tokens_for(client, bystander))["access_token"]
        response = await client.get(
            "/ssosp/token/revoke", params={"user_id": user.user_id}, auth=ADMIN
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.json() == {
            "user_id": user.user_id,
            "client_id": None,
            "revoked": [
                {"client_id": BOT, "grants": 1, "refresh_tokens": 1},
                {"client_id": CSF, "grants": 2, "refresh_tokens": 2},
            ],
        }
        assert await _revoked(client, *tokens[CSF], *tokens[BOT])
        assert await _live(client, theirs)
        # Audited: who revoked whose tokens, through which interface.
        entry = (await admin.list_audit(node.store, object_type="user-tokens"))[0]
        assert (entry.actor, entry.interface, entry.action, entry.object_id) == (
            ADMIN[0],
            "api",
            "revoke",
            user.user_id,
        )
        assert entry.detail == {"client_id": None, "grants": 3}
        again = await client.get(
            "/ssosp/token/revoke", params={"user_id": user.user_id}, auth=ADMIN
        )
        assert again.json()["revoked"] == []


async def test_admin_revoke_form_for_one_client(prepared: Prepared, node: Node) -> None:
    """REFERENCE-BEHAVIOUR "Tokens": with `client_id` only that client's grants go."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        tokens = await _grants(client, user, CSF, BOT)
        response = await client.get(
            "/ssosp/token/revoke", params={"user_id": user.user_id, "client_id": BOT}, auth=ADMIN
        )
        assert response.status_code == 200, response.text
        assert response.json()["client_id"] == BOT
        assert response.json()["revoked"] == [{"client_id": BOT, "grants": 1, "refresh_tokens": 1}]
        assert await _revoked(client, *tokens[BOT])
        assert await _live(client, *tokens[CSF])


async def test_admin_revoke_form_needs_a_user_id(prepared: Prepared, node: Node) -> None:
    """REFERENCE-BEHAVIOUR "Tokens": `user_id` is required: 400 invalid_request."""
    async with web(prepared, node) as client:
        for params in ({}, {"user_id": ""}, {"client_id": CSF}):
            response = await client.get("/ssosp/token/revoke", params=params, auth=ADMIN)
            assert_oauth_error(response, "invalid_request")


# -- RFC 7662 introspection ----------------------------------------------------------------


async def test_rfc7662_introspection_needs_an_administrator(prepared: Prepared, node: Node) -> None:
    """RFC 7662 §2.1/§4: the endpoint requires authorization (here an
    administrator's Basic credentials): 401 with `WWW-Authenticate: Basic`."""
    async with web(prepared, node) as client:
        for headers in BAD_CREDENTIALS:
            response = await client.post("/oauth/introspect", data={"token": "x"}, headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"].startswith("Basic ")
            assert "active" not in response.json()


async def test_rfc7662_introspection_of_tokens(prepared: Prepared, node: Node) -> None:
    """RFC 7662 §2.2: an active access token's claims (RFC 9068 §2.2: iss, aud,
    sub, client_id, scope, iat, exp, jti, plus `sid`); a refresh token is active
    with token_type refresh_token and the same grant; garbage is just inactive."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        issued = await tokens_for(client, user)
        access = await introspect(client, issued["access_token"])
        assert access["active"] is True
        assert access["token_type"] == "Bearer"
        assert access["sub"] == user.user_id
        assert access["client_id"] == CSF
        assert access["scope"] == "config:read sip:register"
        assert access["iss"] == "https://localhost:8443"
        assert access["aud"]
        assert access["jti"]
        assert access["exp"] - access["iat"] == issued["expires_in"]
        kept = await introspect(client, issued["refresh_token"])
        assert kept["active"] is True
        assert kept["token_type"] == "refresh_token"
        assert kept["sid"] == access["sid"]
        assert kept["client_id"] == CSF
        assert kept["sub"] == user.user_id
        for garbage in ("garbage", issued["access_token"][:-4] + "AAAA", "a.b.c.d.e"):
            assert await introspect(client, garbage) == {"active": False}
        empty = await client.post("/oauth/introspect", data={"token": ""}, auth=ADMIN)
        assert_oauth_error(empty, "invalid_request")
