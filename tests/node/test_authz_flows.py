"""The authorization server's grants on a running node, over HTTPS and SIP/TLS.

Discovery (RFC 8414, RFC 7517), the authorization code grant with PKCE for
soft clients (RFC 6749 §4.1, RFC 7636, RFC 8252, RFC 9207), refresh tokens
(RFC 6749 §6, RFC 9700 §4.14), the desk phones' activation-code grant and the
token endpoint's errors (RFC 6749 §5.2) — what docs/oauth.md promises, checked
from the outside. Each test makes its own users and devices: the ``prepared``
data directory is shared by the module, the node (and so every throttle
counter) is the test's own.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from sipoauth import admin
from sipoauth.node import Node
from sipoauth.oauth import hash_secret
from sipoauth.store import AuthorizationCode

from ._authz import (
    ACCESS_MINUTES,
    ACTIVATION,
    BOT,
    CSF,
    DESK,
    INVALID_CODE,
    REDIRECT,
    REFRESH_DAYS,
    Pkce,
    activate,
    activation_code,
    assert_oauth_error,
    authorize_params,
    cheap_admin_password,
    cheap_password_hashing,
    code_for,
    csrf_of,
    desk_phone,
    eventually,
    exchange,
    introspect,
    knows_device,
    new_mac,
    redirect_query,
    refresh,
    refresh_flow,
    register,
    register_status,
    set_parameter,
    sign_in,
    sip,
    soft_user,
    token,
    tokens_for,
    web,
)
from ._support import NODE, Prepared

ISSUER = "https://localhost:8443"
"""The cluster's issuer: `prepare` initialised the node with host name localhost."""
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(scope="module", autouse=True)
def _cheap_admin_password(prepared: Prepared) -> None:
    asyncio.run(cheap_admin_password(prepared))


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashing(monkeypatch)


# -- discovery ---------------------------------------------------------------------------


async def test_rfc8414_metadata(prepared: Prepared, node: Node) -> None:
    """RFC 8414 §2/§3: the metadata names the issuer of the tokens, the endpoints,
    PKCE S256 only (RFC 9700 §2.1.1), the grant types incl. the activation code,
    RFC 9207 `iss` support; Authlib's validator accepts it."""
    async with web(prepared, node) as client:
        response = await client.get("/.well-known/oauth-authorization-server")
        assert response.status_code == 200
        meta = response.json()
        AuthorizationServerMetadata(meta).validate()
        assert meta["issuer"] == ISSUER
        for name, path in [
            ("authorization_endpoint", "/oauth/authorize"),
            ("token_endpoint", "/oauth/token"),
            ("jwks_uri", "/oauth/jwks"),
            ("revocation_endpoint", "/oauth/revoke"),
            ("introspection_endpoint", "/oauth/introspect"),
        ]:
            assert meta[name] == ISSUER + path
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["response_types_supported"] == ["code"]
        assert {"authorization_code", "refresh_token", ACTIVATION} <= set(
            meta["grant_types_supported"]
        )
        assert meta["authorization_response_iss_parameter_supported"] is True
        # The issuer is the `iss` of the tokens it hands out.
        user = await soft_user(node)
        access = (await tokens_for(client, user))["access_token"]
        assert (await introspect(client, access))["iss"] == meta["issuer"]


async def test_rfc7517_jwks_has_current_public_key_only(prepared: Prepared, node: Node) -> None:
    """RFC 7517 §4/§6.3, docs/oauth.md: the JWKS publishes the current signing key
    (first), public members only."""
    async with web(prepared, node) as client:
        response = await client.get("/oauth/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    current = await admin.show_authz_key(node.store, "signing")
    assert keys[0]["kid"] == current.kid
    for key in keys:
        assert key["kty"] == "RSA"
        assert not PRIVATE_JWK_MEMBERS & set(key), key


async def test_regenerated_signing_key_invalidates_tokens(prepared: Prepared, node: Node) -> None:
    """REFERENCE-BEHAVIOUR "Tokens": regenerating an authz key invalidates every
    token. The node takes the new key from the `config` notification: the JWKS
    changes, and a token issued before is refused by the registrar (RFC 6750 §3.1
    401 invalid_token) and by introspection (RFC 7662 §2.2 `active: false`)."""
    user = await soft_user(node)
    async with web(prepared, node) as client:
        access = (await tokens_for(client, user))["access_token"]
        assert await register_status(prepared, node, user.device, user.line, access) == 200
        old_kid = (await client.get("/oauth/jwks")).json()["keys"][0]["kid"]

        new = await admin.regenerate_authz_key(node.store, "signing", node_name=NODE)
        assert new.kid != old_kid
        async with asyncio.timeout(10):
            while True:
                kids = [k["kid"] for k in (await client.get("/oauth/jwks")).json()["keys"]]
                if kids[0] != old_kid:
                    break
                await asyncio.sleep(0.02)
        assert kids[0] == new.kid
        assert old_kid not in kids

        async with sip(prepared, node) as phone:
            refused = await register(phone, user.device, user.line, access)
        assert refused.status == 401
        assert 'error="invalid_token"' in refused.get("www-authenticate")
        assert await introspect(client, access) == {"active": False}
        # Tokens issued now carry the new key and work.
        fresh = (await tokens_for(client, user))["access_token"]
        assert await register_status(prepared, node, user.device, user.line, fresh) == 200


# -- authorization code + PKCE -------------------------------------------------------------


async def test_signin_page_sets_csrf_cookie_and_refuses_framing(
    prepared: Prepared, node: Node
) -> None:
    """RFC 6749 §10.12 (CSRF), RFC 9700 §4.16 (clickjacking): the page sets a
    Secure, HttpOnly, SameSite=Strict double-submit cookie and forbids framing."""
    async with web(prepared, node) as client:
        page = await client.get("/oauth/authorize", params=authorize_params(Pkce.new()))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    cookie = page.headers["set-cookie"]
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=strict"} <= attributes
    assert cookie.startswith(f"sipoauth_signin={csrf_of(page)};")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_code_flow_tokens_register_the_users_soft_client(
    prepared: Prepared, node: Node
) -> None:
    """RFC 6749 §4.1.2/§4.1.4, RFC 9207 §2, RFC 7636 §4.6: sign-in redirects with
    `code`, `state` and `iss`; the code and verifier give a Bearer token that
    registers the user's CSF over TLS (R1.2); another user's token is refused
    for that device, and the user's token for the user's desk phone (403,
    DESIGN "Tokens": a soft client's token names its owner, a phone's the phone)."""
    user, other = await soft_user(node), await soft_user(node)
    pkce = Pkce.new()
    params = authorize_params(pkce, state="xyz-123")
    async with web(prepared, node) as client:
        signed_in = await sign_in(client, params, user.user_id, user.password)
        assert signed_in.headers["location"].startswith(REDIRECT + "?")
        query = redirect_query(signed_in)
        assert query["state"] == "xyz-123"
        assert query["iss"] == ISSUER
        response = await exchange(client, query["code"], pkce)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "sip:register config:read"
        claims = await introspect(client, body["access_token"])
        assert claims["sub"] == user.user_id
        assert claims["client_id"] == CSF
        theirs = (await tokens_for(client, other))["access_token"]
    access = body["access_token"]
    assert await register_status(prepared, node, user.device, user.line, access) == 200
    assert await register_status(prepared, node, user.device, user.line, theirs) == 403
    # ... nor does the user's own token register the user's desk phone.
    desk, desk_line = await desk_phone(node, owner=user.user_id)
    assert await register_status(prepared, node, desk, desk_line, access) == 403


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"code_challenge": None, "code_challenge_method": None}, id="no-challenge"),
        pytest.param({"code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge_method": None}, id="no-method"),
    ],
)
async def test_pkce_s256_is_required(
    prepared: Prepared, node: Node, change: dict[str, str | None]
) -> None:
    """RFC 7636 §4.4.1 + RFC 9700 §2.1.1: without a challenge, with `plain`, or
    without a method (which §4.3 defaults to plain) the request is refused; client
    and redirect URI are valid, so the error goes back to the client (RFC 6749
    §4.1.2.1) with `state` and, RFC 9207 §2, `iss`."""
    pkce = Pkce.new()
    params = authorize_params(pkce, **change)
    if change.get("code_challenge_method") == "plain":
        params["code_challenge"] = pkce.verifier
    async with web(prepared, node) as client:
        response = await client.get("/oauth/authorize", params=params)
    query = redirect_query(response)
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert query["error"] == "invalid_request"
    assert query["state"] == params["state"]
    assert "code" not in query
    assert query.get("iss") == ISSUER


async def test_wrong_code_verifier_is_invalid_grant(prepared: Prepared, node: Node) -> None:
    """RFC 7636 §4.6: a verifier that does not match the challenge gets invalid_grant."""
    user = await soft_user(node)
    async with web(prepared, node) as client:
        code = await code_for(client, user, Pkce.new())
        assert_oauth_error(await exchange(client, code, Pkce.new()), "invalid_grant")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"client_id": "no-such-client"}, "unknown client"),
        ({"redirect_uri": "https://attacker.example/callback"}, "unregistered redirect"),
        ({"redirect_uri": "http://127.0.0.1:5555/elsewhere"}, "other path on loopback"),
        ({"redirect_uri": "http://localhost:5555/callback"}, "loopback by name"),
    ],
)
async def test_bad_client_or_redirect_uri_is_not_redirected(
    prepared: Prepared, node: Node, change: dict[str, str], why: str
) -> None:
    """RFC 6749 §4.1.2.1, RFC 9700 §4.1.3: with an unknown client or a redirect URI
    not registered (exact match, RFC 8252 §8.3 loopback by IP only) the server
    must not redirect; it shows an error page (400)."""
    async with web(prepared, node) as client:
        response = await client.get(
            "/oauth/authorize", params=authorize_params(Pkce.new(), **change)
        )
    assert response.status_code == 400, why
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("redirect_uri", "other_port"),
    [
        ("http://127.0.0.1:61000/callback", "http://127.0.0.1:61001/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:80/callback"),
        ("http://[::1]:50123/callback", "http://[::1]:50124/callback"),
    ],
)
async def test_loopback_redirect_on_any_port(
    prepared: Prepared, node: Node, redirect_uri: str, other_port: str
) -> None:
    """RFC 8252 §7.3: a loopback IP redirect URI is accepted on any port, and the
    code is bound to the one used (RFC 6749 §4.1.3)."""
    user = await soft_user(node)
    pkce = Pkce.new()
    async with web(prepared, node) as client:
        code = await code_for(client, user, pkce, redirect_uri=redirect_uri)
        assert_oauth_error(
            await exchange(client, code, pkce, redirect_uri=other_port), "invalid_grant"
        )
        code = await code_for(client, user, pkce, redirect_uri=redirect_uri)
        response = await exchange(client, code, pkce, redirect_uri=redirect_uri)
    assert response.status_code == 200, response.text


async def test_code_used_twice_revokes_what_it_gave(prepared: Prepared, node: Node) -> None:
    """RFC 6749 §4.1.2 (and RFC 9700 §4.5): a code used twice is refused
    (invalid_grant) and the tokens issued for it are revoked: introspection says
    inactive, the refresh token is refused."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    pkce = Pkce.new()
    async with web(prepared, node) as client:
        code = await code_for(client, user, pkce)
        first = await exchange(client, code, pkce)
        assert first.status_code == 200
        tokens = first.json()
        assert (await introspect(client, tokens["access_token"]))["active"] is True
        assert_oauth_error(await exchange(client, code, pkce), "invalid_grant")
        assert await introspect(client, tokens["access_token"]) == {"active": False}
        assert await introspect(client, tokens["refresh_token"]) == {"active": False}
        assert_oauth_error(await refresh(client, tokens["refresh_token"]), "invalid_grant")


async def test_expired_code_is_invalid_grant(prepared: Prepared, node: Node) -> None:
    """RFC 6749 §4.1.2 (a code lives 60 s here, docs/oauth.md): an expired code
    gets invalid_grant. The codes are written to the store as the authorize
    endpoint writes them, one past its expiry and its twin still valid."""
    user = await soft_user(node)
    pkce = Pkce.new()
    now = datetime.now(UTC)

    async def stored_code(expires_at: datetime) -> str:
        code = secrets.token_urlsafe(32)
        await node.store.authorization_codes.add(
            AuthorizationCode(
                code_hash=hash_secret(code),
                client_id=CSF,
                redirect_uri=REDIRECT,
                user_id=user.user_id,
                scope="sip:register config:read",
                code_challenge=pkce.challenge,
                code_challenge_method="S256",
                via_mra=False,
                auth_time=expires_at - timedelta(seconds=60),
                expires_at=expires_at,
            )
        )
        return code

    expired = await stored_code(now - timedelta(seconds=1))
    valid = await stored_code(now + timedelta(seconds=60))
    async with web(prepared, node) as client:
        assert_oauth_error(await exchange(client, expired, pkce), "invalid_grant")
        assert (await exchange(client, valid, pkce)).status_code == 200


async def test_wrong_password_gives_no_code(prepared: Prepared, node: Node) -> None:
    """RFC 6749 §4.1.2.1 leaves failed authentication to the server: the page is
    shown again with "Invalid user ID or password" and nothing is redirected; an
    unknown user gets the very same answer."""
    user = await soft_user(node)
    params = authorize_params(Pkce.new())
    async with web(prepared, node) as client:
        wrong = await sign_in(client, params, user.user_id, "not the password")
        unknown = await sign_in(client, params, "nobody-" + user.user_id, "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "location" not in response.headers
        assert "Invalid user ID or password" in response.text


@pytest.mark.parametrize("cookie", [None, "forged-value"], ids=["no-cookie", "wrong-cookie"])
async def test_signin_without_the_csrf_cookie_gives_no_code(
    prepared: Prepared, node: Node, cookie: str | None
) -> None:
    """RFC 6749 §10.12: login CSRF. A form posted without the page's cookie, or
    with a cookie that does not match the form's token, signs nobody in."""
    user = await soft_user(node)
    params = authorize_params(Pkce.new())
    async with web(prepared, node) as browser:
        page = await browser.get("/oauth/authorize", params=params)
    form = {**params, "csrf_token": csrf_of(page), "user_id": user.user_id}
    form["password"] = user.password
    headers = {} if cookie is None else {"Cookie": f"sipoauth_signin={cookie}"}
    async with web(prepared, node) as attacker:
        response = await attacker.post("/oauth/authorize", data=form, headers=headers)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "The sign-in form expired" in response.text


async def test_inactive_user_cannot_sign_in(prepared: Prepared, node: Node) -> None:
    """DESIGN "Tokens" (REFERENCE-BEHAVIOUR): an inactive user fails sign-in with
    the same answer as a wrong password."""
    user = await soft_user(node, active=False)
    async with web(prepared, node) as client:
        response = await sign_in(client, authorize_params(Pkce.new()), user.user_id, user.password)
    assert response.status_code == 200
    assert "location" not in response.headers
    assert "Invalid user ID or password" in response.text


async def test_repeated_signin_failures_are_throttled(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Guessing" (RFC 6749 §10.10): after 5 failures for one user id
    the page answers 429 with Retry-After, even to the right password."""
    user = await soft_user(node)
    params = authorize_params(Pkce.new())
    async with web(prepared, node) as client:
        for _ in range(5):
            response = await sign_in(client, params, user.user_id, "wrong password")
            assert response.status_code == 200
        throttled = await sign_in(client, params, user.user_id, "wrong password")
        right = await sign_in(client, params, user.user_id, user.password)
    for response in (throttled, right):
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert "location" not in response.headers
        assert "Too many failed sign-in attempts" in response.text


# -- refresh tokens ------------------------------------------------------------------------


async def test_no_refresh_token_while_refresh_flow_disabled(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Tokens": refresh tokens only while "OAuth with Refresh Login
    Flow" is Enabled (the default is Disabled); RFC 6749 §5.1 makes it optional."""
    await refresh_flow(node, False)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        assert "refresh_token" not in await tokens_for(client, user)
        await refresh_flow(node, True)
        issued = await tokens_for(client, user)
    assert issued["refresh_token"]
    assert issued["refresh_token_expires_in"] > 0


async def test_refresh_rotates_and_reuse_revokes_the_grant(prepared: Prepared, node: Node) -> None:
    """RFC 9700 §4.14.2: every refresh hands out a new refresh token; the old one
    presented again gets invalid_grant and revokes the whole grant: the newest
    refresh token is refused too, and a REGISTER with the grant's access token
    gets 401 invalid_token (DESIGN "Tokens": revocation takes effect at once)."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        first = await tokens_for(client, user)
        response = await refresh(client, first["refresh_token"])
        assert response.status_code == 200, response.text
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        sid = (await introspect(client, second["access_token"]))["sid"]
        assert (await introspect(client, first["access_token"]))["sid"] == sid
        access = second["access_token"]
        assert await register_status(prepared, node, user.device, user.line, access) == 200

        assert_oauth_error(await refresh(client, first["refresh_token"]), "invalid_grant")
        assert_oauth_error(await refresh(client, second["refresh_token"]), "invalid_grant")
        await _revoked_on_node(node, sid)
        assert await introspect(client, access) == {"active": False}
    assert await register_status(prepared, node, user.device, user.line, access) == 401


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
async def test_refresh_refused_for_inactive_or_deleted_user(
    prepared: Prepared, node: Node, change: str
) -> None:
    """REFERENCE-BEHAVIOUR "Tokens": an inactive or deleted user fails even with
    unexpired tokens — refresh gets invalid_grant (RFC 6749 §5.2); the user's
    grants are revoked, so the live registration goes (and its connection) and a
    REGISTER gets 401."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client, sip(prepared, node) as phone:
        issued = await tokens_for(client, user)
        access = issued["access_token"]
        sid = (await introspect(client, access))["sid"]
        ok = await register(phone, user.device, user.line, access, call_id="u", cseq=1)
        assert ok.status == 200
        now = datetime.now(UTC)
        if change == "deactivated":
            await admin.set_user_active(node.store, user.user_id, False, now=now)
        else:
            await admin.delete_user(node.store, user.user_id, now=now)
        assert_oauth_error(await refresh(client, issued["refresh_token"]), "invalid_grant")
        assert await introspect(client, access) == {"active": False}
        await _revoked_on_node(node, sid)
        assert all(b.sid != sid for b in node.registrar.table)
    # The node closed the connection whose only registration went; the client
    # reconnects and is told why.
    async with sip(prepared, node) as phone:
        again = await register(phone, user.device, user.line, access, call_id="u", cseq=2)
        assert again.status == 401


async def test_refresh_refused_for_a_deleted_desk_phone(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Tokens": a deleted device gets invalid_grant on refresh (the
    desk phone's own refresh works until then, RFC 6749 §6)."""
    await refresh_flow(node, True)
    name, _ = await desk_phone(node)
    code = await activation_code(node, name)
    async with web(prepared, node) as client:
        issued = await activate(client, code, name[3:])
        assert issued.status_code == 200, issued.text
        renewed = await refresh(client, issued.json()["refresh_token"], client_id=DESK)
        assert renewed.status_code == 200, renewed.text
        assert (await introspect(client, renewed.json()["access_token"]))["sub"] == name
        await admin.delete_device(node.store, name)
        refused = await refresh(client, renewed.json()["refresh_token"], client_id=DESK)
        assert_oauth_error(refused, "invalid_grant")


async def test_refresh_expiry_change_revokes_every_refresh_token(
    prepared: Prepared, node: Node
) -> None:
    """docs/oauth.md "Tokens" (reference behaviour): changing "OAuth Refresh Token
    Expiry Timer" deletes every refresh token; new ones live as long as it says."""
    await refresh_flow(node, True)
    one, two = await soft_user(node), await soft_user(node)
    async with web(prepared, node) as client:
        tokens = [await tokens_for(client, one), await tokens_for(client, two)]
        await set_parameter(node, REFRESH_DAYS, "30")
        try:
            for issued in tokens:
                assert_oauth_error(await refresh(client, issued["refresh_token"]), "invalid_grant")
            again = await tokens_for(client, one)
            # Whole seconds left of 30 days, counted from the request's clock.
            assert 30 * 86400 - 5 <= again["refresh_token_expires_in"] <= 30 * 86400
        finally:
            await set_parameter(node, REFRESH_DAYS, "60")


async def test_access_token_lifetime_follows_the_parameter(prepared: Prepared, node: Node) -> None:
    """DESIGN "Tokens": the access token lives "OAuth Access Token Expiry Timer"
    minutes: `expires_in` (RFC 6749 §5.1) and `exp - iat` (RFC 7662 §2.2)."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    await set_parameter(node, ACCESS_MINUTES, "7")
    try:
        async with web(prepared, node) as client:
            issued = await tokens_for(client, user)
            assert issued["expires_in"] == 7 * 60
            claims = await introspect(client, issued["access_token"])
            assert claims["exp"] - claims["iat"] == 7 * 60
            refreshed = await refresh(client, issued["refresh_token"])
            assert refreshed.json()["expires_in"] == 7 * 60
    finally:
        await set_parameter(node, ACCESS_MINUTES, "60")


async def test_refresh_with_another_clients_id_is_invalid_grant(
    prepared: Prepared, node: Node
) -> None:
    """RFC 6749 §6: the refresh token is bound to the client it was issued to;
    another client presenting it gets invalid_grant and rotates nothing."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        issued = await tokens_for(client, user)
        assert_oauth_error(
            await refresh(client, issued["refresh_token"], client_id=BOT), "invalid_grant"
        )
        assert (await refresh(client, issued["refresh_token"])).status_code == 200


async def test_refresh_may_narrow_the_scope_of_the_access_token_only(
    prepared: Prepared, node: Node
) -> None:
    """RFC 6749 §6: a refresh may ask for less scope (never more: invalid_scope);
    the new refresh token keeps the scope of the one presented, so the next
    refresh without `scope` gets all of it again. A `config:read` token cannot
    register (RFC 6750 §3.1 insufficient_scope, 403)."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        issued = await tokens_for(client, user)
        wider = await token(
            client,
            grant_type="refresh_token",
            refresh_token=issued["refresh_token"],
            client_id=CSF,
            scope="sip:register config:read admin",
        )
        assert_oauth_error(wider, "invalid_scope")
        narrow = await token(
            client,
            grant_type="refresh_token",
            refresh_token=issued["refresh_token"],
            client_id=CSF,
            scope="config:read",
        )
        assert narrow.status_code == 200, narrow.text
        assert narrow.json()["scope"] == "config:read"
        kept = await introspect(client, narrow.json()["refresh_token"])
        assert kept["scope"] == "sip:register config:read"
        again = await refresh(client, narrow.json()["refresh_token"])
        assert again.status_code == 200, again.text
        assert again.json()["scope"] == "sip:register config:read"
    reader = narrow.json()["access_token"]
    assert await register_status(prepared, node, user.device, user.line, reader) == 403
    full = again.json()["access_token"]
    assert await register_status(prepared, node, user.device, user.line, full) == 200


async def test_refresh_refused_once_the_flow_is_disabled(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Tokens": while "OAuth with Refresh Login Flow" is Disabled the
    token endpoint refuses `refresh_token` with unauthorized_client (RFC 6749 §5.2)."""
    await refresh_flow(node, True)
    user = await soft_user(node)
    async with web(prepared, node) as client:
        issued = await tokens_for(client, user)
        await refresh_flow(node, False)
        assert_oauth_error(await refresh(client, issued["refresh_token"]), "unauthorized_client")


# -- activation codes (desk phones) ----------------------------------------------------------


async def test_activation_code_onboards_a_sep_phone(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Activation codes" (DESIGN "Grants"): the phone's code, MAC
    and model give tokens whose `sub` is the phone, which register it over TLS."""
    name, line = await desk_phone(node)
    code = await activation_code(node, name)
    async with web(prepared, node) as client:
        response = await activate(client, code, name[3:])
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        access = response.json()["access_token"]
        claims = await introspect(client, access)
    assert claims["sub"] == name
    assert claims["client_id"] == DESK
    assert await register_status(prepared, node, name, line, access) == 200


async def test_an_activation_code_refused_after_its_check_is_not_spent(
    prepared: Prepared, node: Node
) -> None:
    """A right code in a request refused for another reason (here a scope the desk
    phone client may not have, RFC 6749 §5.2 invalid_scope) issues nothing and
    loses nothing: the code is put back and onboards the phone afterwards."""
    name, _ = await desk_phone(node)
    code = await activation_code(node, name)
    async with web(prepared, node) as client:
        refused = await token(
            client,
            grant_type=ACTIVATION,
            client_id=DESK,
            activation_code=code,
            mac=name[3:],
            model="8851",
            scope="admin:everything",
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_scope"
        assert await node.store.activation_codes.get(name) is not None
        response = await activate(client, code, name[3:])
        assert response.status_code == 200, response.text
    assert await node.store.activation_codes.get(name) is None  # spent now


async def test_activation_code_renames_a_bat_phone(prepared: Prepared, node: Node) -> None:
    """REFERENCE-BEHAVIOUR "Activation codes": a phone added as `BAT` + 12 hex is
    matched by model and renamed `SEP<MAC>` on activation; the token names and
    registers `SEP<MAC>` (MAC separators are ignored)."""
    bat, line = await desk_phone(node, prefix="BAT", model="8845")
    code = await activation_code(node, bat)
    mac = new_mac()
    typed = ":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower()
    async with web(prepared, node) as client:
        response = await activate(client, code, typed, model="8845")
        assert response.status_code == 200, response.text
        access = response.json()["access_token"]
        assert (await introspect(client, access))["sub"] == f"SEP{mac}"
    assert await node.store.devices.get(bat) is None
    renamed = await node.store.devices.get(f"SEP{mac}")
    assert renamed is not None
    assert renamed.model == "8845"
    await knows_device(node, f"SEP{mac}")
    assert await register_status(prepared, node, f"SEP{mac}", line, access) == 200


async def test_invalid_activation_codes_all_look_alike(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Activation codes": wrong, used, expired, released codes and a
    right code with the wrong MAC or model all get the same 400 invalid_grant
    "Invalid activation code" — no oracle. (Each case comes from its own loopback
    address so that the per-source throttle stays out of it.)"""
    phones = [await desk_phone(node) for _ in range(6)]
    names = [name for name, _ in phones]
    now = datetime.now(UTC)
    codes = [await activation_code(node, name) for name in names[:5]]
    expired = await activation_code(node, names[5], now=now - timedelta(hours=169))
    await admin.release_activation_code(node.store, names[3])
    async with web(prepared, node) as client:
        assert (await activate(client, codes[1], names[1][3:])).status_code == 200
    cases = {
        "wrong code": (f"{secrets.randbelow(10**16):016d}", names[0][3:], "8851"),
        "used code": (codes[1], names[1][3:], "8851"),
        "expired code": (expired, names[5][3:], "8851"),
        "released code": (codes[3], names[3][3:], "8851"),
        "wrong MAC": (codes[2], new_mac(), "8851"),
        "wrong model": (codes[4], names[4][3:], "7841"),
    }
    answers = {}
    for i, (case, (code, mac, model)) in enumerate(cases.items()):
        async with web(prepared, node, local_address=f"127.0.0.{10 + i}") as client:
            response = await activate(client, code, mac, model)
        answers[case] = (
            response.status_code,
            response.text,
            response.headers["content-type"],
            response.headers["cache-control"],
        )
    assert len(set(answers.values())) == 1, answers
    status, body, content_type, cache = answers["wrong code"]
    assert (status, json.loads(body), cache) == (400, INVALID_CODE, "no-store")
    assert content_type.startswith("application/json")


async def test_activation_code_typed_with_dashes_or_spaces(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Activation codes": spaces and dashes in the code are ignored."""
    async with web(prepared, node) as client:
        for separator in ("-", " "):
            name, _ = await desk_phone(node)
            code = await activation_code(node, name)
            typed = separator.join(code[i : i + 4] for i in range(0, 16, 4))
            response = await activate(client, typed, name[3:])
            assert response.status_code == 200, (separator, response.text)


@pytest.mark.parametrize("missing", ["activation_code", "mac", "model"])
async def test_activation_without_a_parameter_is_invalid_request(
    prepared: Prepared, node: Node, missing: str
) -> None:
    """RFC 6749 §5.2: a missing required parameter is invalid_request."""
    name, _ = await desk_phone(node)
    form = {
        "grant_type": ACTIVATION,
        "client_id": DESK,
        "activation_code": await activation_code(node, name),
        "mac": name[3:],
        "model": "8851",
    }
    del form[missing]
    async with web(prepared, node) as client:
        response = await token(client, **form)
    assert_oauth_error(response, "invalid_request")
    assert missing in response.json()["error_description"]


async def test_activation_failures_are_throttled(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Guessing" (RFC 8628 §5.1 reasoning): after 5 wrong codes from
    one address the token endpoint answers 429 slow_down with Retry-After, and a
    right code from there is held back too (it stays usable: from another
    address it works). The node is this test's own, so are its counters."""
    name, _ = await desk_phone(node)
    code = await activation_code(node, name)
    async with web(prepared, node) as client:
        for _ in range(5):
            guess = f"{secrets.randbelow(10**16):016d}"
            assert_oauth_error(await activate(client, guess, name[3:]), "invalid_grant")
        guess = f"{secrets.randbelow(10**16):016d}"
        for response in (
            await activate(client, guess, name[3:]),
            await activate(client, code, name[3:]),
        ):
            assert_oauth_error(response, "slow_down", 429)
            assert int(response.headers["retry-after"]) > 0
    async with web(prepared, node, local_address="127.0.0.2") as elsewhere:
        assert (await activate(elsewhere, code, name[3:])).status_code == 200


# -- token endpoint errors -------------------------------------------------------------------


async def test_unsupported_grant_type(prepared: Prepared, node: Node) -> None:
    """RFC 6749 §5.2: an unknown grant type is 400 unsupported_grant_type (no
    password grant here, RFC 9700 §2.4)."""
    async with web(prepared, node) as client:
        for grant_type in ("password", "implicit", "urn:example:nothing"):
            response = await token(
                client, grant_type=grant_type, client_id=CSF, username="u", password="p"
            )
            assert_oauth_error(response, "unsupported_grant_type")


async def test_token_endpoint_wants_a_small_form(prepared: Prepared, node: Node) -> None:
    """RFC 6749 §3.2/§4.1.3: the token request is application/x-www-form-urlencoded;
    anything else, or a body past the limit, is 400 invalid_request as JSON."""
    async with web(prepared, node) as client:
        as_json = await client.post("/oauth/token", json={"grant_type": "authorization_code"})
        huge = await client.post(
            "/oauth/token",
            content=b"grant_type=authorization_code&code=" + b"a" * 20_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        empty = await client.post("/oauth/token", content=b"")
    for response in (as_json, huge, empty):
        assert_oauth_error(response, "invalid_request")


async def test_repeated_parameter_is_invalid_request(prepared: Prepared, node: Node) -> None:
    """RFC 6749 §3.2: parameters "MUST NOT be included more than once"; §5.2: a
    request that repeats one is invalid_request (and the code is not spent)."""
    user = await soft_user(node)
    pkce = Pkce.new()
    async with web(prepared, node) as client:
        code = await code_for(client, user, pkce)
        form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code", "another"),
            ("redirect_uri", REDIRECT),
            ("client_id", CSF),
            ("code_verifier", pkce.verifier),
        ]
        response = await client.post(
            "/oauth/token",
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_oauth_error(response, "invalid_request")
        assert "code" in response.json()["error_description"]
        assert (await exchange(client, code, pkce)).status_code == 200


async def test_every_token_response_is_no_store(prepared: Prepared, node: Node) -> None:
    """RFC 6749 §5.1/§5.2: token responses, successful or not, carry
    `Cache-Control: no-store`."""
    name, _ = await desk_phone(node)
    code = await activation_code(node, name)
    async with web(prepared, node) as client:
        responses: list[httpx.Response] = [
            await activate(client, code, name[3:]),
            await token(client, grant_type="authorization_code", client_id=CSF, code="x"),
            await token(client, grant_type="refresh_token", client_id=CSF, refresh_token="x"),
            await token(client, grant_type="nothing"),
            await client.post("/oauth/token", content=b"{}"),
        ]
    assert responses[0].status_code == 200
    for response in responses:
        assert response.headers["cache-control"] == "no-store", response.text


# -- helpers ----------------------------------------------------------------------------------


async def _revoked_on_node(node: Node, sid: str) -> None:
    await eventually(lambda: node.directory.grant_revoked(sid), f"node heard {sid} revoked")
