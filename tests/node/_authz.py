"""Helpers of the authorization-server loopback tests (docs/oauth.md).

An HTTPS client of a running node's web port, users and devices made unique
per test (the ``prepared`` data directory is shared by a module), the sign-in
page with its double-submit CSRF cookie, PKCE, the token endpoint,
introspection, parameters the node has taken in, and REGISTER over TLS.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher

from sipoauth import admin
from sipoauth.admin import _users
from sipoauth.node import Node
from sipoauth.oauth import ACTIVATION_GRANT, DESK_PHONE_CLIENT, TokenPolicy
from sipoauth.pki import client_ssl_context
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request
from sipoauth.sip import Response
from sipoauth.store import Store

from ._support import Prepared, port_of

ADMIN = ("admin", "test-password")
"""The administrator `prepare` made (HTTP Basic on introspection and the revoke form)."""
CSF = "sipoauth-csf"
BOT = "sipoauth-bot"
DESK = DESK_PHONE_CLIENT
ACTIVATION = ACTIVATION_GRANT
REDIRECT = "http://127.0.0.1:5555/callback"
PASSWORD = "correct horse battery"
INVALID_CODE = {"error": "invalid_grant", "error_description": "Invalid activation code"}
REFRESH_FLOW = "OAuth with Refresh Login Flow"
ACCESS_MINUTES = "OAuth Access Token Expiry Timer (minutes)"
REFRESH_DAYS = "OAuth Refresh Token Expiry Timer (days)"

_serial = itertools.count(1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- password hashing --------------------------------------------------------------------

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
"""argon2 at a low cost. These tests sign in and introspect some 150 times; at the
production cost (64 MiB, 3 passes, ~0.2 s of two cores each) that is most of
their run time, and the cost is not what they test. A check reads the cost from
the stored hash, so the server's code runs unchanged on cheap hashes."""
_CHEAP_DUMMY = CHEAP_HASHER.hash("not the password of anyone")


def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """End users' passwords hashed with :data:`CHEAP_HASHER` (for this test only:
    the process-wide cached hasher and dummy hash are left alone)."""
    monkeypatch.setattr(_users, "_hasher", lambda: CHEAP_HASHER)
    monkeypatch.setattr(_users, "_dummy_hash", lambda: _CHEAP_DUMMY)


async def cheap_admin_password(prepared: Prepared) -> None:
    """Store the administrator's password (`prepare`'s) as a :data:`CHEAP_HASHER` hash."""
    store = await Store.open(prepared.url)
    try:
        await store.admins.set_password(ADMIN[0], CHEAP_HASHER.hash(ADMIN[1]))
    finally:
        await store.close()


# -- ids ---------------------------------------------------------------------------------


def unique() -> str:
    """A short token no other test of the session uses (ids, device names)."""
    return f"{next(_serial)}{secrets.token_hex(3)}"


def new_line() -> str:
    """A directory number no other device has."""
    return f"6{secrets.randbelow(10**9):09d}"


def new_mac() -> str:
    """12 upper-case hex digits."""
    return secrets.token_hex(6).upper()


async def eventually(
    predicate: Callable[[], bool], what: str, *, timeout: float = 10.0, every: float = 0.02
) -> None:
    """Wait until ``predicate()`` holds (a node hearing a notification)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


# -- the web port ------------------------------------------------------------------------


@asynccontextmanager
async def web(
    prepared: Prepared, node: Node, *, local_address: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client of the node's web port trusting the node CA."""
    transport = httpx.AsyncHTTPTransport(
        verify=client_ssl_context([prepared.ca_pem]), local_address=local_address
    )
    async with httpx.AsyncClient(
        base_url=f"https://localhost:{port_of(node, 'HTTPS')}",
        transport=transport,
        follow_redirects=False,
    ) as client:
        yield client


def basic(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic ``Authorization`` header."""
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


# -- users, devices and parameters -------------------------------------------------------


@dataclass(frozen=True)
class SoftUser:
    """An end user with a soft-client device (CSF) of their own."""

    user_id: str
    device: str
    line: str
    password: str = PASSWORD


async def soft_user(node: Node, *, active: bool = True, kind: str = "CSF") -> SoftUser:
    """A new user owning a new soft client with an OAuth profile; the node knows it."""
    tag = unique()
    user = SoftUser(f"user{tag}", f"{kind}{tag.upper()}", new_line())
    await admin.add_user(node.store, user.user_id, password=PASSWORD, active=active)
    await admin.add_device(
        node.store,
        name=user.device,
        model=kind,
        lines=[user.line],
        profile=admin.OAUTH_PROFILE,
        owner=user.user_id,
    )
    await knows_device(node, user.device)
    return user


async def desk_phone(
    node: Node, *, prefix: str = "SEP", model: str = "8851", owner: str | None = None
) -> tuple[str, str]:
    """A new desk phone with an OAuth profile, its name and line; the node knows it."""
    name, line = f"{prefix}{new_mac()}", new_line()
    await admin.add_device(
        node.store,
        name=name,
        model=model,
        lines=[line],
        profile=admin.OAUTH_PROFILE,
        owner=owner,
    )
    await knows_device(node, name)
    return name, line


async def knows_device(node: Node, name: str) -> None:
    """Wait until the node's registrar directory has the device (config notification)."""
    await eventually(lambda: node.directory.device(name) is not None, f"node knows {name}")


async def activation_code(node: Node, device: str, *, now: datetime | None = None) -> str:
    """A fresh activation code for ``device`` (generated at ``now``)."""
    code, _ = await admin.generate_activation_code(node.store, device, now=now or datetime.now(UTC))
    return code


_POLICY: Mapping[str, Callable[[TokenPolicy, str], bool]] = {
    REFRESH_FLOW: lambda p, v: p.refresh_enabled == (v == "Enabled"),
    ACCESS_MINUTES: lambda p, v: p.access_lifetime == int(v) * 60,
    REFRESH_DAYS: lambda p, v: p.refresh_lifetime == int(v) * 86400,
}


async def set_parameter(node: Node, name: str, value: str) -> None:
    """Set an enterprise parameter and wait until the node's authorization server
    has reloaded it (it listens for the ``config`` notification)."""
    await admin.set_parameter(node.store, name, value)
    applied = _POLICY[name]
    await eventually(
        lambda: node.authz is not None and applied(node.authz.policy, value),
        f"node applied {name} = {value}",
    )


async def refresh_flow(node: Node, enabled: bool) -> None:
    """ "OAuth with Refresh Login Flow" Enabled or Disabled, in force on the node."""
    await set_parameter(node, REFRESH_FLOW, "Enabled" if enabled else "Disabled")


# -- authorization code + PKCE -----------------------------------------------------------


@dataclass(frozen=True)
class Pkce:
    """RFC 7636 §4.1/§4.2: a verifier and its S256 challenge."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorize_params(
    pkce: Pkce, *, client_id: str = CSF, redirect_uri: str = REDIRECT, **extra: str | None
) -> dict[str, str]:
    """An authorization request (RFC 6749 §4.1.1 + RFC 7636 §4.3); ``None`` drops one."""
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "sip:register config:read",
        "state": secrets.token_urlsafe(8),
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return {k: v for k, v in params.items() if v is not None}


def csrf_of(page: httpx.Response) -> str:
    """The sign-in form's CSRF token (the cookie's twin)."""
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def redirect_query(response: httpx.Response) -> dict[str, str]:
    """The query of a redirect's Location, one value per name."""
    assert response.status_code == 302, (response.status_code, response.text)
    query = parse_qs(urlsplit(response.headers["location"]).query, strict_parsing=True)
    return {k: v[0] for k, v in query.items()}


async def sign_in(
    client: httpx.AsyncClient, params: Mapping[str, str], user_id: str, password: str
) -> httpx.Response:
    """Open the sign-in page, then post the form with its CSRF token and cookie."""
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    form = {**params, "csrf_token": csrf_of(page), "user_id": user_id, "password": password}
    return await client.post("/oauth/authorize", data=form)


async def code_for(
    client: httpx.AsyncClient, user: SoftUser, pkce: Pkce, **params: str | None
) -> str:
    """Sign ``user`` in; the authorization code of the redirect."""
    response = await sign_in(client, authorize_params(pkce, **params), user.user_id, user.password)
    return redirect_query(response)["code"]


async def token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    """POST /oauth/token with a form."""
    return await client.post("/oauth/token", data=form)


async def exchange(
    client: httpx.AsyncClient,
    code: str,
    pkce: Pkce,
    *,
    client_id: str = CSF,
    redirect_uri: str = REDIRECT,
) -> httpx.Response:
    """RFC 6749 §4.1.3 token request with the PKCE verifier (RFC 7636 §4.5)."""
    return await token(
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        client_id=client_id,
        code_verifier=pkce.verifier,
    )


async def tokens_for(
    client: httpx.AsyncClient, user: SoftUser, *, client_id: str = CSF
) -> dict[str, Any]:
    """Sign in and exchange the code: the token response."""
    pkce = Pkce.new()
    code = await code_for(client, user, pkce, client_id=client_id)
    response = await exchange(client, code, pkce, client_id=client_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(
    client: httpx.AsyncClient, refresh_token: str, *, client_id: str = CSF
) -> httpx.Response:
    """RFC 6749 §6 refresh request of a public client."""
    return await token(
        client, grant_type="refresh_token", refresh_token=refresh_token, client_id=client_id
    )


async def activate(
    client: httpx.AsyncClient, code: str, mac: str, model: str = "8851"
) -> httpx.Response:
    """The desk phones' activation-code grant (docs/oauth.md "Activation codes")."""
    return await token(
        client,
        grant_type=ACTIVATION,
        client_id=DESK,
        activation_code=code,
        mac=mac,
        model=model,
    )


async def introspect(client: httpx.AsyncClient, token_value: str) -> dict[str, Any]:
    """RFC 7662 introspection as the administrator."""
    response = await client.post("/oauth/introspect", data={"token": token_value}, auth=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_oauth_error(response: httpx.Response, error: str, status: int = 400) -> None:
    """An RFC 6749 §5.2 JSON error that must not be cached (§5.1)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"] == "no-store"


# -- SIP over TLS ------------------------------------------------------------------------


@asynccontextmanager
async def sip(prepared: Prepared, node: Node) -> AsyncIterator[SipTlsClient]:
    """A TLS connection to the node's SIP Phone OAuth Port."""
    context = client_ssl_context([prepared.ca_pem])
    client = await SipTlsClient.connect(
        "127.0.0.1", port_of(node, "TLS"), context, server_hostname="localhost"
    )
    try:
        yield client
    finally:
        await client.close()


async def register(
    client: SipTlsClient,
    device: str,
    line: str,
    token_value: str,
    *,
    cseq: int = 1,
    call_id: str | None = None,
    instance: str | None = None,
) -> Response:
    """A REGISTER of ``device``'s ``line`` with ``Authorization: Bearer`` (RFC 8898)."""
    ident = PhoneIdentity(device=device, line=line, domain="localhost")
    if instance is not None:
        ident.instance = instance
    request = register_request(
        ident,
        call_id=call_id or str(uuid.uuid4()),
        cseq=cseq,
        # Unique across connections: a reused branch is a retransmission to the
        # node's transaction layer (RFC 3261 §17.2.3), answered from its cache.
        branch=f"z9hG4bK-{uuid.uuid4().hex}",
        token=token_value,
        proxy_form=False,
    )
    return await client.request(request)


async def register_status(
    prepared: Prepared, node: Node, device: str, line: str, token_value: str
) -> int:
    """Status of one REGISTER on a connection of its own."""
    async with sip(prepared, node) as client:
        return (await register(client, device, line, token_value)).status
