"""What every REST API module shares: the node context, the caller, model bases.

The API is a thin adapter over ``sipoauth.admin`` (DESIGN "Layers"): a route
parses its input into a pydantic model, calls one admin function inside
``admin.acting_as(<the administrator>, "api")`` so that the change is audited
as theirs, and serialises the result. Nothing here decides a rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials
from fastapi.security import HTTPBearer as _HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sipoauth import admin
from sipoauth.store import Store

__all__ = [
    "SESSION_SCOPE_KEY",
    "AdminSession",
    "ApiContext",
    "ApiError",
    "ApiSettings",
    "Body",
    "Ctx",
    "Out",
    "Who",
    "absent",
    "api_context",
    "current_admin",
]

SESSION_SCOPE_KEY: Final = "sipoauth.admin_session"
"""Where the authentication middleware leaves the :class:`AdminSession` in the ASGI scope."""
REALM: Final = "sipoauth"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ApiError(Exception):
    """A refusal of the API layer itself (authentication, media type…), answered
    in the error format of ``_api_errors`` with ``status``."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiSettings:
    """Limits of the REST API, with safe defaults (STYLE rule 7)."""

    token_lifetime: timedelta = timedelta(hours=8)
    """How long an admin bearer token (``POST /auth/tokens``) is valid."""
    basic_cache_seconds: float = 60.0
    """A successful HTTP Basic check is remembered this long (keyed by a SHA-256
    of user and password), so a script making many calls pays argon2 once."""
    basic_cache_size: int = 1024
    """Remembered Basic checks at most (the oldest go first)."""
    token_touch_seconds: float = 60.0
    """A bearer token's ``last_used_at`` is written at most this often."""
    max_body_bytes: int = 64 * 1024
    """Largest request body of an ordinary route."""
    max_upload_bytes: int = 1024 * 1024
    """Largest request body of an upload (certificates, CSV import)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    """What the API needs of the node that serves it."""

    store: Store
    node_name: str
    """This node's server name: publisher-only commands are checked against it."""
    hostname: str
    """The node's host name (the web certificate names it)."""
    settings: ApiSettings = field(default_factory=ApiSettings)
    now: Callable[[], datetime] = _utc_now
    """Wall clock (token expiry, activation codes, registrations)."""
    monotonic: Callable[[], float] = time.monotonic
    """Clock of the Basic-check cache."""


@dataclass(frozen=True, slots=True)
class AdminSession:
    """An authenticated administrator (the middleware made it; routes read it)."""

    username: str
    method: Literal["basic", "bearer"]
    token_hash: str | None = field(default=None, repr=False)
    """The bearer token's SHA-256 (``method == "bearer"``)."""

    @property
    def actor(self) -> admin.Actor:
        """Whom changes made in this request are audited as."""
        return admin.Actor(self.username, "api")


_basic = HTTPBasic(
    scheme_name="basic",
    realm=REALM,
    auto_error=False,
    description="An administrator's user name and password.",
)
_bearer = _HTTPBearer(
    scheme_name="bearer",
    bearerFormat="opaque",
    auto_error=False,
    description="An admin token from `POST /api/v1/auth/tokens` (valid 8 hours).",
)


def api_context(request: Request) -> ApiContext:
    """The node context the app was built with."""
    context: ApiContext = request.app.state.sipoauth
    return context


async def current_admin(
    request: Request,
    _basic_credentials: Annotated[HTTPBasicCredentials | None, Security(_basic)],
    _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> AdminSession:
    """The administrator the authentication middleware let through.

    The two security dependencies only declare the schemes in the OpenAPI
    document; the check itself is the middleware's (``_api_auth``), made
    before the body is read.
    """
    session = request.scope.get(SESSION_SCOPE_KEY)
    if not isinstance(session, AdminSession):  # a route outside the middleware: refuse
        raise ApiError(401, "unauthorized", "administrator authentication required")
    return session


Ctx = Annotated[ApiContext, Depends(api_context)]
"""The node context, as a route parameter."""
Who = Annotated[AdminSession, Depends(current_admin)]
"""The authenticated administrator, as a route parameter."""


def _refuse_hidden_characters(value: Any, path: str = "") -> None:
    """NUL characters and unpaired surrogates are refused in every string of a
    body: neither can be stored (PostgreSQL text, UTF-8) nor sent back."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'value'}: NUL characters are not allowed")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{path or 'value'}: unpaired surrogates are not allowed") from None
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_hidden_characters(key, path)
            _refuse_hidden_characters(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_hidden_characters(item, path)


class Body(BaseModel):
    """A request body: unknown fields and wrong types are refused (422)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _plain_strings(cls, data: Any) -> Any:
        _refuse_hidden_characters(data)
        return data


class Out(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str, **constraints: Any) -> Any:
    """A PATCH field that may be left out (then the value stays) but not null.

    The field's type stays non-nullable in the schema; the route passes on
    only what ``model_fields_set`` holds.
    """
    return Field(
        default=None, description=description, json_schema_extra=_no_default, **constraints
    )
