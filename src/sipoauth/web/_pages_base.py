"""What every admin page shares: the session guard, CSRF, forms, rendering, paging.

Theory of operation
-------------------
Every route under ``/admin/`` except the sign-in page is wrapped by
:func:`page`: it finds the session from the ``__Host-sipoauth-admin`` cookie
(none or expired: a redirect to the sign-in page with a safe ``next``), checks
that its administrator still exists and is active, and, for a POST, that the
request comes from this origin (``Origin``, else ``Referer``) and carries the
session's synchronizer token (``csrf_token``) — a refusal is a 403 page that
changes nothing. The handler then runs inside ``admin.acting_as(<the
administrator>, "web")``, so every change is audited as theirs, interface
``web``. Handlers call ``sipoauth.admin`` functions only (DESIGN "Layers"); an
:class:`admin.AdminError` is shown next to the field it concerns
(:func:`field_of`) with the values the operator typed kept.

Responses are never cached and carry a content security policy without inline
script or style, ``frame-ancestors 'none'`` and ``same-origin`` referrers (so
the browser sends the ``Origin`` the CSRF check reads).
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sipoauth import admin
from sipoauth.oauth import AuthorizationService, Throttle
from sipoauth.store import StoreError, StoreUnavailable

from ._api_base import ApiContext
from ._api_errors import STORE_ERROR_STATUS
from ._oauth import AdminCheck
from ._pages_session import SESSION_COOKIE, PageSettings, Session, SessionStore

__all__ = [
    "PAGE_HEADERS",
    "PREFIX",
    "BadForm",
    "Choice",
    "Field",
    "FormState",
    "Page",
    "Pages",
    "Paging",
    "field_of",
    "page",
    "safe_next",
]

log = structlog.get_logger("sipoauth.web.pages")

PREFIX: Final = "/admin"
"""Where the node's web app mounts the pages."""
PAGE_HEADERS: Final[Mapping[str, str]] = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_FORM_TYPE: Final = "application/x-www-form-urlencoded"
_MAX_FIELDS: Final = 256


class BadForm(Exception):
    """The body is not a form we accept."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a drop-down."""

    value: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One input of a form, as the generic form template renders it."""

    name: str
    label: str
    kind: str = "text"
    """``text``, ``number``, ``password``, ``select``, ``checkbox``, ``textarea``, ``file``."""
    help: str = ""
    choices: tuple[Choice, ...] = ()
    required: bool = False
    readonly: bool = False
    attrs: Mapping[str, str] = field(default_factory=dict)
    """Extra attributes (``min``, ``max``, ``data-*`` for the page script)."""
    aliases: tuple[str, ...] = ()
    """Words an admin message may start with to mean this field."""


@dataclass(slots=True)
class FormState:
    """What a form shows: values, and errors by field name (``""``: the form's)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def fail(self, exc: Exception, fields: Sequence[Field]) -> None:
        """Record an admin or store error against the field it concerns."""
        message = error_message(exc)
        self.errors[field_of(exc, message, fields)] = message


def error_message(exc: Exception) -> str:
    """The operator's message of an admin error, or a store error's safe text."""
    if isinstance(exc, admin.AdminError):
        return exc.message
    for cls in type(exc).__mro__:
        if cls in STORE_ERROR_STATUS:
            return STORE_ERROR_STATUS[cls][2]
    return "the request could not be completed"


def field_of(exc: Exception, message: str, fields: Sequence[Field]) -> str:
    """The name of the field an error concerns (``""``: the form as a whole).

    An error's own ``field`` attribute wins; otherwise the field whose name,
    label or alias appears first in the message (rules name the field they
    refuse: "SIP Phone OAuth Port 80 is out of range…", "profile: …").
    """
    named = getattr(exc, "field", None)
    names = {f.name for f in fields}
    if isinstance(named, str) and named in names:
        return named
    text = message.casefold()
    best: tuple[int, int, str] | None = None
    for f in fields:
        for word in (f.label, f.name, f.name.replace("_", " "), *f.aliases):
            word = word.casefold()
            at = text.find(word)
            if word and at >= 0:
                candidate = (at, -len(word), f.name)
                best = candidate if best is None or candidate < best else best
    return "" if best is None else best[2]


def safe_next(target: str | None) -> str:
    """A redirect target after sign-in: a path under the pages, never another site."""
    if not target:
        return PREFIX + "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith(PREFIX + "/"):
        return PREFIX + "/"
    if target.startswith(PREFIX + "/signin") or target.startswith("//"):
        return PREFIX + "/"
    return target


@dataclass(frozen=True, slots=True)
class Paging:
    """One page of a find-and-list result."""

    offset: int
    limit: int
    total: int
    sizes: tuple[int, ...]

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.limit))

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.offset + self.limit)

    def offset_of(self, page: int) -> int:
        return (min(max(page, 1), self.pages) - 1) * self.limit

    @classmethod
    def of(cls, query: Mapping[str, str], total: int, sizes: tuple[int, ...]) -> Paging:
        try:
            limit = int(query.get("rows", sizes[0]))
        except ValueError:
            limit = sizes[0]
        if limit not in sizes:
            limit = sizes[0]
        try:
            page = int(query.get("page", "1"))
        except ValueError:
            page = 1
        pages = max(1, math.ceil(total / limit))
        page = min(max(page, 1), pages)
        return cls((page - 1) * limit, limit, total, sizes)


class Pages:
    """The admin pages of one node: its context, sessions and templates."""

    def __init__(
        self,
        context: ApiContext,
        admin_check: AdminCheck,
        service: Callable[[], AuthorizationService],
        settings: PageSettings,
    ) -> None:
        self.context = context
        self.admin_check = admin_check
        self.service = service
        self.settings = settings
        self.sessions = SessionStore(settings, context.monotonic)
        self.templates = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates" / "admin"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
        )
        self.templates.globals["prefix"] = PREFIX
        self.templates.filters["q"] = lambda value: quote(str(value), safe="")

    def throttle(self) -> Throttle:
        """The node's throttle of failed sign-ins (shared with the REST API)."""
        return self.service().throttle

    @property
    def store(self) -> Any:
        return self.context.store


class Page:
    """One request to a page of a signed-in administrator."""

    def __init__(self, pages: Pages, request: Request, session: Session) -> None:
        self.pages = pages
        self.request = request
        self.session = session
        self.form: dict[str, list[str]] = {}

    @property
    def ctx(self) -> ApiContext:
        return self.pages.context

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    def value(self, name: str, default: str = "") -> str:
        """A form field's (first) value, as typed."""
        return self.form.get(name, [default])[0]

    def checked(self, name: str) -> bool:
        """A checkbox: present and not empty."""
        return bool(self.form.get(name, [""])[0])

    def values(self, fields: Iterable[Field]) -> dict[str, Any]:
        """The posted values of ``fields`` (checkboxes as booleans)."""
        return {
            f.name: self.checked(f.name) if f.kind == "checkbox" else self.value(f.name)
            for f in fields
        }

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        html = self.pages.templates.get_template(template).render(
            user=self.session.username,
            csrf_token=self.session.csrf_token,
            flashes=self.session.take_flashes(),
            path=self.request.url.path,
            node=self.ctx.node_name,
            **values,
        )
        return HTMLResponse(html, status, headers=dict(PAGE_HEADERS))

    def redirect(self, path: str, message: str | None = None, kind: str = "success") -> Response:
        """Post/Redirect/Get: go to ``path`` (under the pages), showing ``message``."""
        if message:
            self.session.flash(kind, message)  # type: ignore[arg-type]
        return RedirectResponse(PREFIX + path, 303, headers=dict(PAGE_HEADERS))

    async def confirm(
        self,
        act: Callable[[], Awaitable[str]],
        *,
        done: str,
        back: str,
        action: str,
        title: str,
        question: str,
        detail: str,
        confirm_label: str,
        crumbs: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """Confirm, then act: the question page until a POST with ``confirm=yes``
        runs ``act`` and goes to ``done`` showing the message ``act`` returns. A
        refusal goes back to ``back`` as an error; an object gone (NotFound) is
        the refused page, as for any page."""
        if self.request.method == "POST" and self.value("confirm") == "yes":
            try:
                message = await act()
            except admin.NotFound:
                raise
            except admin.AdminError as exc:
                return self.redirect(back, exc.message, "error")
            return self.redirect(done, message)
        return self.render(
            "confirm.html",
            title=title,
            crumbs=list(crumbs),
            question=question,
            detail=detail,
            action=action,
            hidden={},
            confirm_label=confirm_label,
            back=back,
        )


def url(path: str, **query: Any) -> str:
    """``/servers/edit?name=…`` (query values quoted)."""
    items = {k: v for k, v in query.items() if v is not None and v != ""}
    return path + ("?" + urlencode(items) if items else "")


async def read_form(request: Request, limit: int) -> dict[str, list[str]]:
    """An urlencoded body of at most ``limit`` bytes."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != _FORM_TYPE:
        raise BadForm(f"the body must be {_FORM_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadForm("the form is too large")
    try:
        text = body.decode("utf-8")
        return parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm("the form is not valid") from exc


def same_origin(request: Request) -> bool:
    """The request was made by a page of this origin (``Origin``, else ``Referer``)."""
    host = request.headers.get("host", "")
    own = f"{request.url.scheme}://{host}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own
    referer = request.headers.get("referer")
    if referer is None:
        return False
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}".lower() == own


def plain_page(pages: Pages, template: str, status: int, **values: Any) -> Response:
    """A page outside a session (sign-in, refusals)."""
    html = pages.templates.get_template(template).render(**values)
    return HTMLResponse(html, status, headers=dict(PAGE_HEADERS))


def signin_redirect(request: Request, message: str | None = None) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = PREFIX + "/"
    query = {"next": safe_next(target)}
    if message:
        query["m"] = message
    return RedirectResponse(f"{PREFIX}/signin?{urlencode(query)}", 303, headers=dict(PAGE_HEADERS))


Handler = Callable[[Page], Awaitable[Response]]


def page(pages: Pages, handler: Handler, *, upload: bool = False) -> Callable[[Request], Any]:
    """Wrap ``handler`` with the session guard and CSRF check (module docstring)."""

    async def endpoint(request: Request) -> Response:
        session = pages.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return signin_redirect(
                request, "expired" if SESSION_COOKIE in request.cookies else None
            )
        account = await pages.store.admins.get(session.username)
        if account is None or not account.active:
            pages.sessions.delete_user(session.username)
            return signin_redirect(request)
        current = Page(pages, request, session)
        if request.method == "POST":
            refusal = await _check_post(pages, current, upload)
            if refusal is not None:
                return refusal
        with admin.acting_as(admin.Actor(session.username, "web")):
            try:
                return await handler(current)
            except admin.AdminError as exc:  # an object named in the URL is gone…
                return current.render(
                    "refused.html", status=exc.status, title="Not done", message=exc.message
                )
            except StoreUnavailable:
                raise  # 503 with Retry-After (the pages' handler)
            except StoreError as exc:
                log.warning("page refused", path=request.url.path, error=type(exc).__name__)
                return current.render(
                    "refused.html", status=409, title="Not done", message=error_message(exc)
                )

    return endpoint


async def _check_post(pages: Pages, current: Page, upload: bool) -> Response | None:
    request = current.request
    if not same_origin(request):
        return current.render(
            "refused.html",
            status=403,
            title="Request refused",
            message="This form was not sent from this site's pages. Nothing was changed.",
        )
    limit = pages.settings.max_upload_bytes if upload else pages.settings.max_form_bytes
    try:
        current.form = await read_form(request, limit)
    except BadForm as exc:
        return current.render("refused.html", status=400, title="Request refused", message=str(exc))
    sent = current.value("csrf_token")
    if not (sent and hmac.compare_digest(sent, current.session.csrf_token)):
        return current.render(
            "refused.html",
            status=403,
            title="Request refused",
            message="The form expired or was not sent from this session. "
            "Nothing was changed: open the page again and repeat.",
        )
    return None
