"""Errors of the SIP layer, each carrying the response it maps to.

One base, :class:`SipError`, with the status code and reason phrase to answer
with (RFC 3261 §21) and any extra response header fields (``Unsupported``,
``Accept``...). :class:`RemoteProtocolError` means the peer sent something we
cannot accept; :class:`LocalProtocolError` means our own code misused the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._message import Request

__all__ = ["LocalProtocolError", "RemoteProtocolError", "SipError"]


class SipError(Exception):
    """Base of every error raised by :mod:`sipoauth.sip`.

    ``status`` and ``reason`` are what a UAS answers with when the error came
    from a request; ``headers`` are extra header fields for that response.
    ``request`` is set by ``parse_message`` when the start line or
    Content-Length was wrong but the header fields could be split: enough to
    answer with ``build_response(exc.request, exc.status, exc.reason)``
    (RFC 4475 badvers -> 505, lwsstart -> 400).
    """

    default_status = 400
    request: Request | None = None

    def __init__(
        self,
        status: int | None = None,
        reason: str = "Bad Request",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.status: int = self.default_status if status is None else status
        self.reason: str = reason
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)
        super().__init__(self.status, reason)

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


class RemoteProtocolError(SipError):
    """The peer sent a message we reject (400 unless another status is given)."""


class LocalProtocolError(SipError):
    """Our own code misused the SIP layer (a bug on this side, not the peer's)."""

    default_status = 500
