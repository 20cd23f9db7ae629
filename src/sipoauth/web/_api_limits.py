"""Request body limits of the REST API (STYLE rule 7: limits are settings).

Every route takes at most ``max_body_bytes``; the upload routes (certificate
files, the CSV import) ``max_upload_bytes``. A declared ``Content-Length``
over the limit is refused before anything is read; a body without one is
counted as it arrives and refused when it passes the limit. Either way the
answer is 413 in the API's error format and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._api_errors import error_response

__all__ = ["BodyLimit", "BodyTooLarge"]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the limit (the route's
    error handler answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """ASGI middleware enforcing the body limits (module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_routes: Sequence[BaseRoute],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_routes = tuple(upload_routes)

    def _limit(self, scope: Scope) -> int:
        for route in self.upload_routes:
            if route.matches(scope)[0] is Match.FULL:
                return self.max_upload_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isascii() or not declared.isdigit():
                response = error_response(400, "invalid_request", "Content-Length is not a number")
                await response(scope, receive, send)
                return
            if int(declared) > limit:
                too_large = BodyTooLarge(limit)
                response = error_response(413, "payload_too_large", too_large.detail)
                await response(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)
