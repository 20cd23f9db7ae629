"""Split one complete SIP message into start line, raw headers and body.

This is the hot path of every request, so it does only what is needed to
find the parts (RFC 3261 §7): locate the end of the head, unfold continuation
lines (§7.3.1), split header lines at the first colon, map names to canonical
keys, apply Content-Length. Everything else is checked lazily by the typed
accessors / ``validate()``.

Header text is decoded as UTF-8 with ``surrogateescape``: the grammar is
UTF-8, and bytes that are not survive a round trip into ``build_response``
unchanged instead of failing the whole message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import _abnf
from ._errors import RemoteProtocolError
from ._message import Request, Response
from ._names import KEY_CACHE, canonical_key

if TYPE_CHECKING:
    from ._cache import ParseCache

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "parse_head", "parse_message", "parse_split"]

DEFAULT_MAX_MESSAGE_SIZE: Final = 65535
"""Largest message ``parse_message`` accepts by default (answer 513 beyond)."""

_KEY_CACHE_GET: Final = KEY_CACHE.get
# One string object per common method and for the version, shared by every message.
_METHODS: Final = {method: method for method in _abnf.COMMON_METHODS}
_SIP_2_0: Final = "SIP/2.0"
_SIP_VERSION_FULLMATCH: Final = _abnf.SIP_VERSION_RE.fullmatch


def _bad(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, reason)


def _split_head(head: str) -> tuple[str, dict[str, list[str]]]:
    """Start line and ``{canonical key: [raw value, ...]}`` of a decoded head.

    Splits at LF and requires each line to end in CR with no other CR in the
    head (one single-character count instead of multi-character searches,
    which cost ~1 µs each on a 1 KiB head): a lone CR or LF is rejected.
    A line starting with SP/HTAB continues the previous value (RFC 3261
    §7.3.1 folding); ``[ \t]* CRLF [ \t]+`` becomes one SP.
    """
    start, _, rest = head.partition("\r\n")
    headers: dict[str, list[str]] = {}
    if "\n" in start or "\r" in start:
        raise _bad("Invalid line ending")
    if not rest:
        return start, headers
    rest += "\r"  # every line now ends with CR
    lines = rest.split("\n")
    if rest.count("\r") != len(lines):
        raise _bad("Invalid line ending")
    cache_get = _KEY_CACHE_GET
    values: list[str] | None = None
    folded: list[str] = []  # continuation lines of the current header line
    for line in lines:
        if line[-1:] != "\r":
            raise _bad("Invalid line ending")
        first = line[0]
        if first == " " or first == "\t":
            if values is None:
                raise _bad("Invalid header line: continuation of the start line")
            folded.append(line)
            continue
        if folded:
            _unfold(values, folded)  # type: ignore[arg-type]
        name, colon, value = line.partition(":")
        if not colon:
            raise _bad("Invalid header line")
        key = cache_get(name)
        if key is None:
            key = canonical_key(name)
        value = value.strip(" \t\r")
        values = headers.get(key)
        if values is None:
            headers[key] = values = [value]
        else:
            values.append(value)
    if folded:
        _unfold(values, folded)  # type: ignore[arg-type]
    return start, headers


def _unfold(values: list[str], folded: list[str]) -> None:
    """Join continuation lines to the last value, each fold becoming one SP."""
    parts = [values[-1]] if values[-1] else []
    parts += [more for line in folded if (more := line.strip(" \t\r"))]
    values[-1] = " ".join(parts)
    folded.clear()


def _start_line(start: str, headers: dict[str, list[str]], body: bytes) -> Request | Response:
    if start.startswith("SIP/"):
        # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
        version, _, rest = start.partition(" ")
        code, sp2, reason = rest.partition(" ")
        _check_version(version)
        if not sp2 or len(code) != 3 or not (code.isascii() and code.isdigit()):
            raise _bad("Invalid Status-Line")
        status = int(code)
        if not 100 <= status <= 699:  # RFC 3261 §21: 1xx to 6xx (RFC 4475 bigcode)
            raise _bad("Invalid Status-Code")
        return Response(status, reason, version, headers, body)
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF
    # (exactly single SPs: RFC 4475 §3.1.2.9 lwsstart, §3.1.2.10 trws)
    parts = start.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise _bad("Invalid Request-Line")
    method, uri, version = parts
    if version == _SIP_2_0:
        version = _SIP_2_0
    else:
        _check_version(version)
    return Request(_METHODS.get(method, method), uri, version, headers, body)


def _check_version(version: str) -> None:
    if version == "SIP/2.0":
        return
    if _SIP_VERSION_FULLMATCH(version) is None:
        raise _bad("Invalid SIP-Version")
    if version.upper() != "SIP/2.0":  # RFC 4475 §3.1.2.16 badvers
        raise RemoteProtocolError(505, "Version Not Supported")


def parse_message(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    cache: ParseCache | None = None,
) -> Request | Response:
    """Parse one complete message (head, blank line, body).

    The body is Content-Length octets; extra octets after it are discarded
    (RFC 3261 §18.3 datagram rule; RFC 4475 §3.1.1.8). Without Content-Length
    the body is the rest of ``data``. CRLFs before the start line are ignored
    (§7.5). Raises :class:`RemoteProtocolError`: 513 when ``data`` exceeds
    ``max_size``, 505 for a SIP version other than 2.0, 400 for a broken
    start line, header line or Content-Length (negative, non-numeric,
    repeated, or more than the octets present). When the header fields could
    be split, the error's ``request`` is set so that it can be answered.

    ``cache``: the :class:`ParseCache` of the connection ``data`` came on. The
    result is the same; a request repeating the layout of recent valid ones is
    parsed by comparison and arrives with the typed values of its unchanged
    headers already checked (see ``_cache``).
    """
    if len(data) > max_size:
        raise RemoteProtocolError(513, "Message Too Large")
    if cache is not None:
        matched = cache.match(data)
        if matched is not None:
            return matched
    if data[:2] == b"\r\n":
        data = data.lstrip(b"\r\n")
    message, body_start = parse_split(data)
    if cache is not None and isinstance(message, Request):
        cache.remember(data[:body_start], message)
    return message


def parse_split(data: bytes) -> tuple[Request | Response, int]:
    """:func:`parse_message` of ``data`` that starts with its start line (no
    size limit, no cache), and where its body starts (the head's length)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise _bad("Incomplete message: no empty line after the header fields")
    start, headers = _split_head(data[:end].decode("utf-8", "surrogateescape"))
    body_start = end + 4
    lengths = headers.get("content-length")
    try:
        if lengths is None:
            body = data[body_start:]
        else:
            if len(lengths) > 1:  # RFC 4475 §3.3.9 mcl01
                raise _bad("Multiple Content-Length headers")
            length = _abnf.parse_uint32(lengths[0])
            if length is None:  # RFC 4475 §3.1.2.3 ncl
                raise _bad("Invalid Content-Length header")
            if body_start + length > len(data):  # RFC 4475 §3.1.2.2 clerr
                raise _bad("Content-Length larger than the message")
            body = data[body_start : body_start + length]
        message = _start_line(start, headers, body)
    except RemoteProtocolError as exc:
        _attach_request(exc, start, headers)
        raise
    return message, body_start


def _attach_request(exc: RemoteProtocolError, start: str, headers: dict[str, list[str]]) -> None:
    """Give an error in the start line / Content-Length the request to answer."""
    if not start.startswith("SIP/"):  # (a response is never answered)
        method, _, rest = start.partition(" ")
        exc.request = Request(method, rest.partition(" ")[0], "", headers, b"")


def parse_head(head: bytes) -> Request | Response:
    """Parse only a message's start line and header fields (body empty).

    For answering a stream message whose framing failed (see
    :class:`FramingError`): its Content-Length may be what is broken, so it is
    not applied here. ``head`` may include the terminating empty line. Errors
    carry ``request`` as for :func:`parse_message`.
    """
    head = head.lstrip(b"\r\n")
    end = head.find(b"\r\n\r\n")
    if end >= 0:
        head = head[:end]
    start, headers = _split_head(head.decode("utf-8", "surrogateescape"))
    try:
        return _start_line(start, headers, b"")
    except RemoteProtocolError as exc:
        _attach_request(exc, start, headers)
        raise
