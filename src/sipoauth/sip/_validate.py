"""``validate()``: the full syntax check of a parsed message (RFC 3261 §25).

Checking a header means reading its typed accessor, so validation and the
later reads by the registrar share one parse. Headers we know no grammar for
(User-Agent, extension headers...) are carried unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from . import _abnf
from ._errors import RemoteProtocolError
from ._names import display_name

if TYPE_CHECKING:
    from ._message import Request, Response, _Message

__all__ = ["codings", "validate_request", "validate_response"]

_TOKEN_FULLMATCH: Final = _abnf.TOKEN_RE.fullmatch
_REQUIRED_IN_REQUESTS: Final = ("via", "to", "from", "call-id", "cseq")
_REQUIRED_IN_RESPONSES: Final = ("via", "to", "from", "call-id", "cseq")
_COMMON_METHODS: Final = _abnf.COMMON_METHODS


def _invalid(key: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {display_name(key)} header")


def codings(message: _Message, key: str, *, allow_empty: bool) -> list[str]:
    """Content-Encoding / Accept-Encoding elements lowercased, parameters dropped.

    content-coding = token ; encoding = codings *(SEMI accept-param)
    """
    out: list[str] = []
    for item in message._elements(key, allow_empty=allow_empty):
        m = _abnf.CODING_RE.fullmatch(item)
        if m is None or (m.group(2) and key == "content-encoding"):
            raise _invalid(key)
        out.append(m.group(1).lower())
    return out


def _check_date(message: _Message) -> None:
    # Date = "Date" HCOLON SIP-date ; SIP-date = rfc1123-date (GMT only: RFC 4475 §3.1.2.12)
    value = message._single("date")
    if value is not None and _abnf.DATE_RE.fullmatch(value) is None:
        raise _invalid("date")


def _comment_ok(text: str) -> bool:
    # comment = LPAREN *(ctext / quoted-pair / comment) RPAREN
    depth = 0
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
        elif char in "\r\n":
            return False
    return depth == 0 and not escaped


def _check_retry_after(message: _Message) -> None:
    value = message._single("retry-after")
    if value is None:
        return
    m = _abnf.RETRY_AFTER_RE.fullmatch(value)
    if (
        m is None
        or _abnf.parse_uint32(m.group(1)) is None  # RFC 4475 §3.1.2.5 scalarlg
        or (m.group(2) is not None and not _comment_ok(m.group(2)))
    ):
        raise _invalid("retry-after")


def _check_warning(message: _Message) -> None:
    for item in message._elements("warning", allow_empty=False):
        if _abnf.WARNING_RE.fullmatch(item) is None:
            raise _invalid("warning")


def _check_content_length(message: _Message) -> None:
    # Parsing applied Content-Length already; a repeat is still an error (mcl01).
    message._single("content-length")


# Header key -> typed accessor; reading it parses, checks and caches the value.
_ACCESSORS: Final[dict[str, str]] = {
    "via": "via",
    "to": "to",
    "from": "from_",
    "call-id": "call_id",
    "cseq": "cseq",
    "max-forwards": "max_forwards",
    "contact": "contacts",
    "expires": "expires",
    "min-expires": "min_expires",
    "content-type": "content_type",
    "content-encoding": "content_encoding",
    "accept": "accept",
    "accept-encoding": "accept_encoding",
    "authorization": "authorization",
    "proxy-authorization": "proxy_authorization",
    "path": "path",
    "route": "route",
    "record-route": "record_route",
    "supported": "supported",
    "require": "require",
    "proxy-require": "proxy_require",
    "unsupported": "unsupported",
    "allow": "allow",
}
# Header key -> check for headers without an accessor.
_CHECKS: Final[dict[str, Callable[[_Message], None]]] = {
    "content-length": _check_content_length,
    "date": _check_date,
    "retry-after": _check_retry_after,
    "warning": _check_warning,
}


def _check_headers(message: _Message, required: tuple[str, ...]) -> None:
    headers = message.headers
    unchecked = message._unchecked
    if unchecked is None:
        for key in required:
            if key not in headers:
                raise RemoteProtocolError(400, f"Missing {display_name(key)} header")
    # else: a ParseCache match, with the header names of a request that passed
    # (so every required header is there) and only these values not yet checked.
    for key in headers if unchecked is None else unchecked:
        accessor = _ACCESSORS.get(key)
        if accessor is not None:
            getattr(message, accessor)
        else:
            check = _CHECKS.get(key)
            if check is not None:
                check(message)
    if message.body and "content-type" not in headers:
        # RFC 3261 §20.15: Content-Type MUST be present if the body is not empty.
        raise RemoteProtocolError(400, "Missing Content-Type header")


def validate_request(request: Request) -> None:
    """Full syntax check of a request; see :meth:`Request.validate`."""
    method = request.method
    if method not in _COMMON_METHODS and _TOKEN_FULLMATCH(method) is None:
        raise RemoteProtocolError(400, "Invalid method")  # Method = ... / extension-method
    request.request_uri  # noqa: B018 - parses and checks the Request-URI
    _check_headers(request, _REQUIRED_IN_REQUESTS)
    if "max-forwards" not in request.headers and request.top_via.has_magic_cookie:
        # RFC 3261 §8.1.1.6: a UAC MUST insert Max-Forwards. An RFC 2543 client
        # (no magic cookie in the branch) may omit it: RFC 4475 §3.4.1 inv2543.
        raise RemoteProtocolError(400, "Missing Max-Forwards header")
    if request.cseq.method != method:  # RFC 4475 §3.1.2.17/18 mismatch01/02
        raise RemoteProtocolError(400, "CSeq method does not match the request method")


def validate_response(response: Response) -> None:
    """Full syntax check of a response; see :meth:`Response.validate`."""
    if _abnf.REASON_RE.fullmatch(response.reason) is None:
        raise RemoteProtocolError(400, "Invalid Reason-Phrase")
    _check_headers(response, _REQUIRED_IN_RESPONSES)
