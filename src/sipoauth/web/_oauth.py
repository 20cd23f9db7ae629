"""HTTP adapter of the authorization server (Starlette routes on the web service).

Parses requests, asks :class:`sipoauth.oauth.AuthorizationService`, writes
responses. Every JSON answer of these endpoints carries ``Cache-Control:
no-store`` (RFC 6749 §5.1); the sign-in page is protected against login CSRF
with a double-submit cookie and against framing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sipoauth.admin import Actor, acting_as
from sipoauth.oauth import AuthorizationService, OAuthResponse, Peer, SignInPage

__all__ = ["AdminCheck", "oauth_routes", "peer_of"]

log = structlog.get_logger("sipoauth.web")

MAX_FORM_BYTES: Final = 16 * 1024
"""Largest form body accepted by the OAuth endpoints."""
CSRF_COOKIE: Final = "sipoauth_signin"
_FORM_TYPE: Final = "application/x-www-form-urlencoded"
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE_HEADERS: Final = {
    **_NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)

AdminCheck = Callable[[str, str, Peer], Awaitable[bool]]
"""Checks an administrator's user name and password (HTTP Basic)."""


class BadForm(Exception):
    """The body is not a form we accept."""


def peer_of(request: Request) -> Peer:
    """The TLS peer the node recorded for this connection.

    Through an authenticated edge the device's own address is the last entry the
    edge appended to ``X-Forwarded-For``; a plain header is never trusted
    otherwise (it cannot mark a request as via MRA either: only the edge's
    client certificate does). The header may come on several lines — the
    device's own, then the edge's — which are one list in order (RFC 9110
    §5.3), so the last entry of the last line counts, not the first line.
    """
    state = request.scope.get("state") or {}
    peer = state.get("peer")
    if not isinstance(peer, Peer):
        host = request.client.host if request.client else "unknown"
        return Peer(host)
    if peer.via_edge is not None:
        forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return dataclasses.replace(peer, address=last)
    return peer


async def _form(request: Request) -> dict[str, list[str]]:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != _FORM_TYPE:
        raise BadForm(f"the body must be {_FORM_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadForm("the body is too large")
    try:
        text = body.decode("utf-8")
        return parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=64)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm("the body is not a valid form") from exc


def _json(response: OAuthResponse) -> Response:
    headers = {k: v for k, v in response.headers if k.lower() != "content-type"}
    headers.update(_NO_STORE)
    if response.status in (301, 302, 303):
        return RedirectResponse(response.location or "/", response.status, headers=headers)
    return JSONResponse(response.body or {}, response.status, headers=headers)


def _bad_request(description: str, status: int = 400) -> Response:
    return JSONResponse(
        {"error": "invalid_request", "error_description": description}, status, headers=_NO_STORE
    )


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _unauthorized() -> Response:
    return JSONResponse(
        {"error": "invalid_client", "error_description": "administrator authentication required"},
        401,
        headers={**_NO_STORE, "WWW-Authenticate": 'Basic realm="sipoauth", charset="UTF-8"'},
    )


def _page(page: SignInPage, action: str, token: str) -> Response:
    html = _templates.get_template("signin.html").render(
        client_name=page.client_name,
        params=page.params,
        user_id=page.user_id,
        message=page.message,
        action=action,
        csrf_token=token,
    )
    headers = dict(_PAGE_HEADERS)
    if page.retry_after is not None:
        headers["Retry-After"] = str(page.retry_after)
    response = HTMLResponse(html, page.status, headers=headers)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path="/oauth/authorize",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


def _error_page(response: OAuthResponse) -> Response:
    body = response.body or {}
    html = _templates.get_template("oauth_error.html").render(
        error=body.get("error", "invalid_request"),
        description=body.get("error_description", "The request is not valid."),
    )
    return HTMLResponse(html, response.status, headers=dict(_PAGE_HEADERS))


def _multi(items: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in items:
        out.setdefault(key, []).append(value)
    return out


def oauth_routes(
    service: Callable[[], AuthorizationService], admin_check: AdminCheck
) -> list[Route]:
    """The OAuth endpoints; ``service`` gives the node's current service."""

    async def metadata(request: Request) -> Response:
        return JSONResponse(service().metadata(), headers={"Cache-Control": "max-age=300"})

    async def jwks(request: Request) -> Response:
        return JSONResponse(service().jwks(), headers={"Cache-Control": "max-age=300"})

    async def authorize(request: Request) -> Response:
        peer = peer_of(request)
        credentials: tuple[str, str] | None = None
        if request.method == "POST":
            try:
                params = await _form(request)
            except BadForm as exc:
                return _bad_request(str(exc))
            sent = params.pop("csrf_token", [""])[0]
            user_id = params.pop("user_id", [""])[0].strip()
            password = params.pop("password", [""])[0]
            cookie = request.cookies.get(CSRF_COOKIE, "")
            if not (sent and cookie and hmac.compare_digest(sent, cookie)):
                outcome = await service().authorize("GET", params, peer)
                if isinstance(outcome, SignInPage):
                    outcome = dataclasses.replace(
                        outcome,
                        user_id=user_id,
                        message="The sign-in form expired. Please sign in again.",
                        status=400,
                    )
            else:
                credentials = (user_id, password)
                outcome = await service().authorize("POST", params, peer, credentials)
        else:
            params = _multi(request.query_params.multi_items())
            outcome = await service().authorize("GET", params, peer)
        if isinstance(outcome, SignInPage):
            return _page(outcome, "/oauth/authorize", secrets.token_urlsafe(24))
        if outcome.location is not None:
            return _json(outcome)
        return _error_page(outcome)

    async def token(request: Request) -> Response:
        try:
            form = await _form(request)
        except BadForm as exc:
            return _bad_request(str(exc))
        headers = {k.lower(): v for k, v in request.headers.items()}
        return _json(await service().token(form, headers, peer_of(request)))

    async def revoke(request: Request) -> Response:
        try:
            form = await _form(request)
        except BadForm as exc:
            return _bad_request(str(exc))
        headers = {k.lower(): v for k, v in request.headers.items()}
        return _json(await service().revoke(form, headers, peer_of(request)))

    async def _admin(request: Request) -> bool:
        creds = _basic(request)
        return creds is not None and await admin_check(creds[0], creds[1], peer_of(request))

    async def introspect(request: Request) -> Response:
        if not await _admin(request):
            return _unauthorized()
        try:
            form = await _form(request)
        except BadForm as exc:
            return _bad_request(str(exc))
        token_values = form.get("token") or [""]
        if not token_values[0]:
            return _bad_request("missing 'token'")
        return JSONResponse(await service().introspect(token_values[0]), headers=_NO_STORE)

    async def admin_revoke(request: Request) -> Response:
        creds = _basic(request)
        if creds is None or not await admin_check(creds[0], creds[1], peer_of(request)):
            return _unauthorized()
        user_id = request.query_params.get("user_id", "").strip()
        if not user_id:
            return _bad_request("missing 'user_id'")
        client_id = request.query_params.get("client_id") or None
        with acting_as(Actor(creds[0], "api")):  # the service audits it as this admin
            result = await service().revoke_user(user_id, client_id)
        return JSONResponse(result, headers=_NO_STORE)

    return [
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/oauth/jwks", jwks, methods=["GET"]),
        Route("/oauth/authorize", authorize, methods=["GET", "POST"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/oauth/introspect", introspect, methods=["POST"]),
        Route("/ssosp/token/revoke", admin_revoke, methods=["GET"]),
    ]
