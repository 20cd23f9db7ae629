"""The admin web pages (``/admin/``): server-rendered Jinja2 on the web service.

``build_pages`` assembles the routes of each area (``_pages_*.py``), the
sign-in page, the home page and the static files (CSS and a small script,
served from the package: no CDN, no build step). Every route but sign-in is
behind the session guard of ``_pages_base.page``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from sipoauth import admin
from sipoauth.oauth import AuthorizationService
from sipoauth.store import StoreUnavailable

from . import (
    _pages_audit,
    _pages_certs,
    _pages_cluster,
    _pages_devices,
    _pages_edges,
    _pages_groups,
    _pages_import,
    _pages_mra,
    _pages_oauth,
    _pages_profiles,
    _pages_system,
    _pages_users,
)
from ._api_base import ApiContext
from ._api_errors import UNAVAILABLE_RETRY_AFTER
from ._oauth import AdminCheck
from ._pages_auth import signin, signout
from ._pages_base import Page, Pages, page, plain_page
from ._pages_session import PageSettings

__all__ = ["build_pages"]


async def _home(current: Page) -> Response:
    store = current.ctx.store
    return current.render(
        "home.html",
        title="Overview",
        mode=await admin.sip_oauth_mode_status(store),
        license=await admin.license_status(store),
    )


def build_pages(
    context: ApiContext,
    admin_check: AdminCheck,
    service: Callable[[], AuthorizationService],
    settings: PageSettings | None = None,
) -> Starlette:
    """The pages of one node (mount them at :data:`PREFIX`); ``service`` gives
    the node's current authorization service (its throttle, revocation)."""
    pages = Pages(context, admin_check, service, settings or PageSettings())

    async def signin_endpoint(request: Request) -> Response:
        return await signin(pages, request)

    routes: list[BaseRoute] = [
        Route("/signin", signin_endpoint, methods=["GET", "POST"]),
        Route("/signout", page(pages, signout), methods=["POST"]),
        Route("/", page(pages, _home), methods=["GET"]),
        Mount(
            "/static",
            app=StaticFiles(directory=Path(__file__).parent / "static"),
            name="static",
        ),
    ]
    for module in (
        _pages_system,
        _pages_profiles,
        _pages_devices,
        _pages_edges,
        _pages_cluster,
        _pages_certs,
        _pages_oauth,
        _pages_users,
        _pages_groups,
        _pages_mra,
        _pages_audit,
        _pages_import,
    ):
        routes.extend(module.routes(pages))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            title, message = "Not allowed", "This page does not take that kind of request."
        else:
            title, message = "Page not found", "There is no such administration page."
        return plain_page(pages, "notfound.html", status, title=title, message=message)

    async def unavailable(request: Request, exc: Exception) -> Response:
        """The database is down: a plain page, 503 with Retry-After, no traceback."""
        response = plain_page(
            pages,
            "notfound.html",
            503,
            title="Database not available",
            message="The database is not available; try again in a moment.",
        )
        response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        return response

    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found, StoreUnavailable: unavailable},
    )
    app.state.sipoauth_pages = pages
    return app
