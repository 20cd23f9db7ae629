"""The web service's ASGI application (Cisco Tomcat on HTTPS 8443)."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from sipoauth.oauth import AuthorizationService
from sipoauth.store import StoreUnavailable

from ._api import API_PREFIX, build_api
from ._api_base import ApiContext
from ._api_errors import UNAVAILABLE_RETRY_AFTER
from ._oauth import AdminCheck, oauth_routes
from ._pages import build_pages
from ._pages_base import PREFIX as PAGES_PREFIX

__all__ = ["build_web_app"]

log = structlog.get_logger("sipoauth.web")


async def _server_error(request: Request, exc: Exception) -> Response:
    # The exception is logged without locals (node logging); the client learns
    # nothing about it (RFC 6749 §5.2 server_error).
    log.error("request failed", path=request.url.path, error=type(exc).__name__)
    return JSONResponse(
        {"error": "server_error", "error_description": "the server could not handle the request"},
        500,
        headers={"Cache-Control": "no-store"},
    )


async def _unavailable(request: Request, exc: Exception) -> Response:
    """The database is down (docs/cluster.md, "Database outage"): 503 with
    ``Retry-After``, an OAuth error body (RFC 6749 §5.2 temporarily_unavailable),
    no traceback. Registered phones are served from memory meanwhile."""
    log.warning("request refused: database unavailable", path=request.url.path)
    return JSONResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": "the database is not available; try again",
        },
        503,
        headers={"Cache-Control": "no-store", "Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405…: JSON, with the exception's headers (``Allow`` on a
    405, RFC 9110 §15.5.6) and never cached."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    headers["Cache-Control"] = "no-store"
    error = {404: "not_found", 405: "method_not_allowed"}.get(status, "invalid_request")
    return JSONResponse({"error": error, "error_description": detail}, status, headers=headers)


def build_web_app(
    service: Callable[[], AuthorizationService],
    admin_check: AdminCheck,
    *,
    api: ApiContext | None = None,
) -> Starlette:
    """The web service's routes: the authorization server and, given the node's
    ``api`` context, the REST API at ``/api/v1`` and the admin pages at ``/admin/``."""
    middleware = []
    routes: list[BaseRoute] = [*oauth_routes(service, admin_check)]
    if api is not None:
        rest = build_api(api, admin_check, lambda: service().throttle)
        middleware.append(Middleware(_ApiPrefix, api=rest))
        pages = build_pages(api, admin_check, service)
        routes.append(Mount(PAGES_PREFIX, app=pages))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            Exception: _server_error,
            HTTPException: _http_error,
            StoreUnavailable: _unavailable,
        },
    )


class _ApiPrefix:
    """Hands every request under ``/api/v1`` to the REST API, whatever its path
    holds (a ``Mount`` would not match a path with an encoded newline, and the
    API's own errors must answer there)."""

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            root = scope.get("root_path", "")
            scope = {**scope, "root_path": root + API_PREFIX}
            await self.api(scope, receive, send)
            return
        await self.app(scope, receive, send)
