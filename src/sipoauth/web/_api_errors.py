"""Errors of the REST API: one format, and the one place statuses are chosen.

Every refusal is JSON ``{"error": <code>, "message": <for people>, "field":
<the input it concerns, when known>}`` and is never cached. The admin rules'
errors (``admin._errors``) map to statuses in :data:`ADMIN_ERROR_STATUS`;
store errors that reach the API (a race the rules could not see) in
:data:`STORE_ERROR_STATUS`; FastAPI's validation errors become 422 in the same
format. An unexpected exception is a 500 that says nothing about it (the
node's log has the exception type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from sipoauth import admin
from sipoauth.store import (
    AlreadyExists,
    CheckViolation,
    InvalidReference,
    StoreError,
    StoreUnavailable,
)

from ._api_base import ApiError, Out

__all__ = [
    "ADMIN_ERROR_STATUS",
    "ERROR_RESPONSES",
    "STORE_ERROR_STATUS",
    "ErrorOut",
    "error_response",
    "exception_handlers",
    "store_error_response",
]

log = structlog.get_logger("sipoauth.web.api")

ADMIN_ERROR_STATUS: Final[Mapping[type[admin.AdminError], tuple[int, str]]] = {
    admin.InvalidValue: (422, "invalid_value"),
    admin.NotFound: (404, "not_found"),
    admin.Conflict: (409, "conflict"),
    admin.NotPublisher: (403, "not_publisher"),
}
"""Status and error code of each admin error class (the most specific class wins)."""

STORE_ERROR_STATUS: Final[Mapping[type[StoreError], tuple[int, str, str]]] = {
    AlreadyExists: (409, "conflict", "the object was changed meanwhile; read it again"),
    InvalidReference: (409, "conflict", "the object is referenced, or refers to a missing one"),
    CheckViolation: (422, "invalid_value", "a value is not accepted by the database"),
    StoreUnavailable: (503, "unavailable", "the database is not available; try again"),
}
"""Store errors that slipped past the rules (races): status, code, message.
Their own text (SQL, constraint names) is not shown."""

UNAVAILABLE_RETRY_AFTER: Final = 30
"""``Retry-After`` (seconds) of a 503: the database is down (docs/cluster.md)."""

_HTTP_CODES: Final[Mapping[int, str]] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_value",
    429: "too_many_requests",
}
_NO_STORE: Final = {"Cache-Control": "no-store"}


class FieldErrorOut(Out):
    """One invalid input of a request."""

    field: str | None = Field(
        default=None, description="Where: a body field (dotted), a query or path parameter."
    )
    message: str = Field(description="What is wrong with it.")


class ErrorOut(Out):
    """A refused request."""

    error: str = Field(
        description="Machine-readable code: invalid_request, invalid_json, invalid_value, "
        "unauthorized, forbidden, not_publisher, not_found, conflict, payload_too_large, "
        "unsupported_media_type, too_many_requests, unavailable, server_error…"
    )
    message: str = Field(description="What went wrong, for people; never holds a secret.")
    field: str | None = Field(default=None, description="The input the error concerns, when known.")
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="Every invalid input (validation errors)."
    )


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Malformed request"),
        (401, "Administrator authentication required"),
        (403, "Not allowed (publisher-only command on a subscriber, …)"),
        (404, "No such object"),
        (409, "Conflicts with the current state"),
        (413, "Request body too large"),
        (415, "Unsupported media type"),
        (422, "Invalid input"),
        (429, "Too many failed sign-ins: wait for Retry-After seconds"),
        (503, "The database is not available"),
    )
}
"""The error responses every route declares (OpenAPI)."""


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    field: str | None = None,
    errors: Sequence[tuple[str | None, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response in the error format, never cached."""
    body: dict[str, Any] = {"error": error, "message": message}
    if field is not None:
        body["field"] = field
    if errors is not None:
        body["errors"] = [
            {"field": name, "message": text} if name is not None else {"message": text}
            for name, text in errors
        ]
    return JSONResponse(body, status, headers={**(headers or {}), **_NO_STORE})


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, admin.AdminError)
    for cls in type(exc).__mro__:
        if cls in ADMIN_ERROR_STATUS:
            status, code = ADMIN_ERROR_STATUS[cls]
            break
    else:
        status, code = 400, "invalid_request"
    return error_response(status, code, exc.message)


def store_error_response(exc: StoreError) -> Response | None:
    """The answer to a store error (503 with ``Retry-After`` when the database is
    down); None when it is not one the API expects (a 500)."""
    for cls in type(exc).__mro__:
        if cls in STORE_ERROR_STATUS:
            status, code, message = STORE_ERROR_STATUS[cls]
            headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)} if status == 503 else None
            if status == 503:
                log.warning("api request refused: database unavailable", error=type(exc).__name__)
            return error_response(status, code, message, headers=headers)
    return None


async def _store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    response = store_error_response(exc)
    return response if response is not None else await _server_error(request, exc)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.message, field=exc.field, headers=exc.headers)


def _location(loc: Sequence[int | str]) -> str | None:
    """``("body", "lines", 0)`` → ``lines.0``; ``("query", "limit")`` → ``limit``."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's validation errors in our format; never the input itself (it
    may be a password)."""
    assert isinstance(exc, RequestValidationError)
    details = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in details):
        return error_response(400, "invalid_json", "the body is not valid JSON")
    pairs = [(_location(error.get("loc", ())), _describe(error)) for error in details]
    if not pairs:
        return error_response(422, "invalid_value", "the request is not valid")
    field, text = pairs[0]
    message = f"{field}: {text}" if field else text
    if len(pairs) > 1:
        message += f" (and {len(pairs) - 1} more)"
    return error_response(422, "invalid_value", message, field=field, errors=pairs)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else "the request is not valid"
    if status == 404 and detail == "Not Found":
        detail = "there is no such API route"
    if status == 400 and "parsing the body" in detail:
        return error_response(400, "invalid_json", "the body is not valid JSON")
    return error_response(
        status, _HTTP_CODES.get(status, "invalid_request"), detail, headers=exc.headers
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("api request failed", path=request.url.path, error=type(exc).__name__)
    return error_response(500, "server_error", "the server could not handle the request")


def exception_handlers() -> dict[int | type[Exception], Any]:
    """The handlers of the API app, by exception class."""
    return {
        admin.AdminError: _admin_error,
        StoreError: _store_error,
        ApiError: _api_error,
        RequestValidationError: _validation_error,
        HTTPException: _http_error,
        Exception: _server_error,
    }
