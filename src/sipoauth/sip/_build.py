"""Serializing: responses built from a request's raw values, and requests.

``build_response`` is on the path of every request, so it joins the raw
header values the parser kept instead of re-serializing parsed objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from . import _abnf
from ._errors import LocalProtocolError, RemoteProtocolError
from ._message import Request

__all__ = ["REASON_PHRASES", "build_response", "serialize_request"]

REASON_PHRASES: Final[dict[int, str]] = {
    # RFC 3261 §21
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",  # RFC 6665 (was RFC 3265)
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    429: "Provide Referrer Identity",  # RFC 3892
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",  # RFC 6665
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",  # RFC 3329
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

_CLASS_REASONS: Final = {
    1: "Trying",
    2: "OK",
    3: "Redirect",
    4: "Bad Request",
    5: "Server Internal Error",
    6: "Global Failure",
}


def default_reason(status: int) -> str:
    """The reason phrase for ``status`` (its class's phrase for unlisted codes)."""
    return REASON_PHRASES.get(status) or _CLASS_REASONS[status // 100]


def _check_field(name: str, value: str) -> None:
    # Guard against header injection: our own values must be one line.
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
        raise LocalProtocolError(reason=f"Header {name!r} would break the message")


def build_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    headers: Sequence[tuple[str, str]] = (),
    to_tag: str | None = None,
    body: bytes = b"",
) -> bytes:
    """Serialize a response to ``request`` (RFC 3261 §8.2.6).

    Copies every Via (raw values, in order; ``request.response_via`` when set),
    From, To, Call-ID and CSeq from the request; adds ``;tag=<to_tag>`` to the
    To when it has no tag and ``status > 100``; then ``headers`` in order, then
    Content-Length. A header missing from the request (a 400 to a broken one) is
    simply not copied.
    """
    if not 100 <= status <= 699:
        raise LocalProtocolError(reason=f"Invalid status code {status}")
    if reason is None:
        reason = default_reason(status)
    elif "\r" in reason or "\n" in reason:
        raise LocalProtocolError(reason="Reason phrase would break the message")
    h = request.headers
    via = request.response_via or h.get("via")
    from_ = h.get("from")
    to_values = h.get("to")
    call_id = h.get("call-id")
    cseq = h.get("cseq")
    to = None
    if to_values:
        to = to_values[0]
        if to_tag is not None and status > 100:
            try:
                has_tag = request.to.tag is not None
            except RemoteProtocolError:
                has_tag = True  # unparseable To: copy it unchanged
            if not has_tag:
                to += ";tag=" + to_tag
    extra = ""
    for name, value in headers:
        if "\r" in value or "\n" in value or ":" in name or "\r" in name or "\n" in name:
            _check_field(name, value)
        extra += f"{name}: {value}\r\n"
    if via and len(via) == 1 and from_ and to is not None and call_id and cseq:  # the usual
        text = (
            f"SIP/2.0 {status} {reason}\r\nVia: {via[0]}\r\nFrom: {from_[0]}\r\nTo: {to}\r\n"
            f"Call-ID: {call_id[0]}\r\nCSeq: {cseq[0]}\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n"
        )
    else:
        lines_out = [f"SIP/2.0 {status} {reason}"]
        if via:
            lines_out += ["Via: " + value for value in via]
        if from_:
            lines_out.append("From: " + from_[0])
        if to is not None:
            lines_out.append("To: " + to)
        if call_id:
            lines_out.append("Call-ID: " + call_id[0])
        if cseq:
            lines_out.append("CSeq: " + cseq[0])
        lines_out.append(f"{extra}Content-Length: {len(body)}\r\n\r\n")
        text = "\r\n".join(lines_out)
    return text.encode("utf-8", "surrogateescape") + body


def serialize_request(
    method: str,
    uri: str,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
) -> bytes:
    """Serialize a request (NOTIFY, OPTIONS... sent by this node).

    ``headers`` are written in order; Content-Length is appended (replacing
    any given one) so it always matches ``body``.
    """
    if not _abnf.is_token(method):
        raise LocalProtocolError(reason=f"Invalid method {method!r}")
    if not uri or " " in uri or "\r" in uri or "\n" in uri:
        raise LocalProtocolError(reason=f"Invalid Request-URI {uri!r}")
    lines = [f"{method} {uri} SIP/2.0"]
    for name, value in headers:
        _check_field(name, value)
        if name.lower() in ("content-length", "l"):
            continue
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body
