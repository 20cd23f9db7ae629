"""Admin sign-in and sign-out (``/admin/signin``, ``/admin/signout``).

Sign-in is protected against login CSRF like the OAuth sign-in page: a
double-submit token (a cookie scoped to the sign-in path and a hidden field
that must match) plus the same-origin check. Failed sign-ins are throttled by
the node's :class:`~sipoauth.oauth.Throttle` (kind ``signin``) per source and
per user under the key ``admin:<user>`` — the key of the REST API's Basic
check, so one lockout covers both. While a limit holds, the page says how long
to wait (429, ``Retry-After``) and checks no password. A success starts a new
session (never one the browser brought: no fixation).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sipoauth import admin

from ._oauth import peer_of
from ._pages_base import (
    PAGE_HEADERS,
    PREFIX,
    BadForm,
    Page,
    Pages,
    plain_page,
    read_form,
    safe_next,
    same_origin,
)
from ._pages_session import SESSION_COOKIE

__all__ = ["SIGNIN_COOKIE", "signin", "signout"]

SIGNIN_COOKIE: Final = "sipoauth_admin_signin"
"""The double-submit token of the sign-in form (path ``/admin/signin``)."""
_NOTICES: Final = {
    "expired": "Your session ended. Please sign in again.",
    "signed-out": "You are signed out.",
}


def _form_page(
    pages: Pages,
    *,
    status: int = 200,
    username: str = "",
    message: str = "",
    notice: str = "",
    next_path: str = "",
    retry_after: int | None = None,
) -> Response:
    token = secrets.token_urlsafe(24)
    response = plain_page(
        pages,
        "signin.html",
        status,
        username=username,
        message=message,
        notice=notice,
        next_path=safe_next(next_path),
        csrf_token=token,
        title="Sign in",
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        path=PREFIX + "/signin",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


def _wait_message(seconds: int) -> str:
    return (
        "Too many failed sign-ins for this user or from this address. "
        f"Sign-in is locked: try again in {seconds} seconds."
    )


async def signin(pages: Pages, request: Request) -> Response:
    """GET: the form. POST: check the administrator and start a session."""
    if request.method == "GET":
        notice = _NOTICES.get(request.query_params.get("m", ""), "")
        return _form_page(pages, notice=notice, next_path=request.query_params.get("next", ""))
    if not same_origin(request):
        return _form_page(
            pages, status=403, message="The sign-in form was not sent from this site."
        )
    try:
        form = await read_form(request, pages.settings.max_form_bytes)
    except BadForm as exc:
        return _form_page(pages, status=400, message=str(exc))
    username = form.get("username", [""])[0].strip()
    password = form.get("password", [""])[0]
    next_path = form.get("next", [""])[0]
    sent = form.get("csrf_token", [""])[0]
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not (sent and cookie and hmac.compare_digest(sent, cookie)):
        return _form_page(
            pages,
            status=400,
            username=username,
            next_path=next_path,
            message="The sign-in form expired. Please sign in again.",
        )
    if not username or not password:
        return _form_page(
            pages,
            status=400,
            username=username,
            next_path=next_path,
            message="Enter your user name and password.",
        )
    peer = peer_of(request)
    wait = pages.throttle().wait("signin", peer.address, f"admin:{username}")
    if wait is not None:
        return _form_page(
            pages,
            status=429,
            username=username,
            next_path=next_path,
            message=_wait_message(wait),
            retry_after=wait,
        )
    if not await pages.admin_check(username, password, peer):  # counts the failure
        wait = pages.throttle().wait("signin", peer.address, f"admin:{username}")
        message = (
            _wait_message(wait) if wait is not None else "The user name or password is not right."
        )
        return _form_page(
            pages,
            status=429 if wait is not None else 401,
            username=username,
            next_path=next_path,
            message=message,
            retry_after=wait,
        )
    pages.sessions.delete(request.cookies.get(SESSION_COOKIE))
    session_id, session = pages.sessions.create(username)
    with admin.acting_as(admin.Actor(username, "web")):
        await admin.audit(pages.store, "sign-in", "admin-session", username, {})
    response = RedirectResponse(safe_next(next_path), 303, headers=dict(PAGE_HEADERS))
    response.set_cookie(
        SESSION_COOKIE, session_id, path="/", secure=True, httponly=True, samesite="strict"
    )
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX + "/signin", secure=True, httponly=True)
    del session
    return response


async def signout(current: Page) -> Response:
    """End the session (POST, CSRF-checked by the guard)."""
    pages = current.pages
    pages.sessions.delete(current.request.cookies.get(SESSION_COOKIE))
    await admin.audit(pages.store, "sign-out", "admin-session", current.session.username, {})
    response = RedirectResponse(f"{PREFIX}/signin?m=signed-out", 303, headers=dict(PAGE_HEADERS))
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
