"""Authentication of the REST API: an administrator, by HTTP Basic or bearer token.

Theory of operation
-------------------
A middleware authenticates every request under ``/api/v1`` before its body
is read (so a stranger learns nothing from validation errors), except the
OpenAPI document and its docs page, and the edge's certificate push, which
authenticates by mutual TLS (``_api_edges``).

- ``Authorization: Basic``: an administrator of ``store.admins``, checked by
  the node's own admin check (argon2 in a worker thread; failures throttled
  per source and per user, kind ``signin``, exactly as the OAuth admin
  endpoints). A success is remembered for ``basic_cache_seconds`` under a
  SHA-256 of user and password — never the password — so a script making
  many calls pays argon2 once a minute. While the throttle holds a source or
  user back the answer is 429 with ``Retry-After``, without checking.
- ``Authorization: Bearer``: an opaque token from ``POST /auth/tokens``
  (Basic only: a token cannot mint tokens), stored as its SHA-256 for
  ``token_lifetime``; its administrator must still exist and be active.
  ``DELETE /auth/tokens/current`` revokes the token of the request.

Anything else: 401 with ``WWW-Authenticate: Basic realm="sipoauth", Bearer
realm="sipoauth"``. A check that cannot reach the database answers 503 with
``Retry-After`` (an administrator not yet remembered cannot be checked while
it is down), never a 500.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sipoauth import admin
from sipoauth.oauth import Throttle
from sipoauth.oauth._secrets import hash_secret, new_secret
from sipoauth.store import StoreError

from ._api_base import (
    REALM,
    SESSION_SCOPE_KEY,
    AdminSession,
    ApiContext,
    ApiError,
    Ctx,
    Out,
    Who,
)
from ._api_errors import error_response, store_error_response
from ._oauth import AdminCheck, _basic, peer_of

__all__ = ["AdminAuthenticator", "AuthMiddleware", "router"]

CHALLENGE: Final = f'Basic realm="{REALM}", Bearer realm="{REALM}"'
"""``WWW-Authenticate`` of every 401 of the API."""
PUBLIC_PATHS: Final = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect"})
"""Routes that need no administrator (the API's description)."""
EDGE_PUSH_PATH: Final = "/edges/push"
"""The edge's certificate push: mutual TLS instead (``_api_edges``)."""
_TOKEN_OBJECT: Final = "api-token"  # noqa: S105 - an audit object type


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": CHALLENGE})


class AdminAuthenticator:
    """Checks the ``Authorization`` header of a request (module docstring)."""

    def __init__(
        self, context: ApiContext, admin_check: AdminCheck, throttle: Callable[[], Throttle]
    ) -> None:
        self._context = context
        self._check = admin_check
        self._throttle = throttle
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._touched: dict[str, float] = {}

    async def authenticate(self, request: Request) -> AdminSession:
        """The administrator of the request; ApiError 401/429 otherwise."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            credentials = _basic(request)
            if credentials is None:
                raise _unauthorized("the Basic credentials are malformed")
            return await self._basic(request, *credentials)
        if scheme.lower() == "bearer" and value.strip():
            return await self._bearer(value.strip())
        raise _unauthorized(
            "administrator authentication required: HTTP Basic or an admin bearer token"
        )

    async def _basic(self, request: Request, username: str, password: str) -> AdminSession:
        settings = self._context.settings
        now = self._context.monotonic()
        user = username.encode("utf-8", "surrogatepass")
        # Length-prefixed: no other user/password pair makes the same bytes.
        key = hashlib.sha256(
            b"%d:%b:%b" % (len(user), user, password.encode("utf-8", "surrogatepass"))
        ).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return AdminSession(cached[0], "basic")
        self._cache.pop(key, None)
        peer = peer_of(request)
        wait = self._throttle().wait("signin", peer.address, f"admin:{username}")
        if wait is not None:
            raise ApiError(
                429,
                "too_many_requests",
                f"too many failed sign-ins: try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if not await self._check(username, password, peer):  # counts the failure
            raise _unauthorized("the user name or password is not right")
        self._cache[key] = (username, now + settings.basic_cache_seconds)
        while len(self._cache) > settings.basic_cache_size:
            self._cache.popitem(last=False)
        return AdminSession(username, "basic")

    async def _bearer(self, token: str) -> AdminSession:
        store = self._context.store
        token_hash = hash_secret(token)
        record = await store.admin_tokens.get(token_hash)
        if record is None or record.expires_at <= self._context.now():
            raise _unauthorized("the bearer token is not valid (expired or revoked?)")
        account = await store.admins.get(record.username)
        if account is None or not account.active:
            raise _unauthorized("the bearer token's administrator is not active")
        now = self._context.monotonic()
        if (
            self._touched.get(token_hash, float("-inf"))
            + self._context.settings.token_touch_seconds
            <= now
        ):
            await store.admin_tokens.touch(token_hash)
            self._touched[token_hash] = now
            if len(self._touched) > self._context.settings.basic_cache_size:
                self._touched.clear()
        return AdminSession(record.username, "bearer", token_hash)

    def forget(self, token_hash: str) -> None:
        """The token was revoked: stop remembering when it was last touched."""
        self._touched.pop(token_hash, None)


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class AuthMiddleware:
    """Authenticates every request but the public ones, before the body is read."""

    def __init__(self, app: ASGIApp, authenticator: AdminAuthenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope)
        if scope["type"] != "http" or path in PUBLIC_PATHS or path == EDGE_PUSH_PATH:
            await self.app(scope, receive, send)
            return
        try:
            session = await self.authenticator.authenticate(Request(scope))
        except ApiError as exc:
            response: Response = error_response(
                exc.status, exc.error, exc.message, headers=exc.headers
            )
            await response(scope, receive, send)
            return
        except StoreError as exc:  # the database is down (or a race): not a 500
            refused = store_error_response(exc)
            if refused is None:
                raise
            await refused(scope, receive, send)
            return
        scope[SESSION_SCOPE_KEY] = session
        await self.app(scope, receive, send)


# -- routes: admin tokens --------------------------------------------------------------

router = APIRouter(tags=["auth"])


class TokenOut(Out):
    """A new admin token: shown this once, stored only as a hash."""

    access_token: str = Field(description="The token: send it as `Authorization: Bearer …`.")
    token_type: str = Field(description="Always `Bearer`.")
    expires_in: int = Field(description="Seconds it stays valid.")
    expires_at: datetime = Field(description="When it stops being valid (UTC).")
    username: str = Field(description="The administrator it authenticates.")


def _authenticator(request: Request) -> AdminAuthenticator:
    authenticator: AdminAuthenticator = request.app.state.sipoauth_authenticator
    return authenticator


@router.post("/auth/tokens", status_code=201, operation_id="create_admin_token")
async def create_admin_token(ctx: Ctx, who: Who) -> TokenOut:
    """Issue an admin bearer token (authenticate with HTTP Basic; a token cannot
    issue tokens). The token is in this response only."""
    if who.method != "basic":
        raise ApiError(403, "forbidden", "authenticate with HTTP Basic to issue a token")
    lifetime: timedelta = ctx.settings.token_lifetime
    token = new_secret()
    token_hash = hash_secret(token)
    expires_at = ctx.now() + lifetime
    await ctx.store.admin_tokens.add(token_hash, who.username, expires_at)
    with admin.acting_as(who.actor):
        await admin.audit(
            ctx.store,
            "issue",
            _TOKEN_OBJECT,
            who.username,
            {"token_id": token_hash[:16], "expires_at": expires_at.isoformat()},
        )
    return TokenOut(
        access_token=token,
        token_type="Bearer",  # noqa: S106 - the token type, not a password
        expires_in=int(lifetime.total_seconds()),
        expires_at=expires_at,
        username=who.username,
    )


@router.delete("/auth/tokens/current", status_code=204, operation_id="revoke_admin_token")
async def revoke_admin_token(request: Request, ctx: Ctx, who: Who) -> Response:
    """Revoke the bearer token this request is authenticated with."""
    if who.token_hash is None:
        raise ApiError(400, "invalid_request", "this request is not authenticated with a token")
    await ctx.store.admin_tokens.delete(who.token_hash)
    _authenticator(request).forget(who.token_hash)
    with admin.acting_as(who.actor):
        await admin.audit(
            ctx.store, "revoke", _TOKEN_OBJECT, who.username, {"token_id": who.token_hash[:16]}
        )
    return Response(status_code=204)
