"""Message framing on stream transports (TLS, TCP): RFC 3261 §18.3, RFC 5626 §4.4.1.

Theory of operation
-------------------
A :class:`StreamFramer` belongs to one connection. The I/O layer feeds it
whatever the socket returned (``receive_data``) and then pulls events with
``next_event()`` until it returns ``None`` ("need more data"). It never
touches a socket or a clock.

Between messages the framer looks at the next octets:

* ``CRLF CRLF`` is a keep-alive *ping* (RFC 5626 §4.4.1) -> :class:`KeepAlivePing`;
  the caller answers with a single CRLF *pong*.
* a lone ``CRLF`` followed by anything else is skipped (RFC 3261 §7.5: CRLFs
  before a start line are ignored; it is also how a peer's pong arrives).
  ``CRLF`` alone, or ``CRLF CR``, might still become a ping: wait.
* anything else starts a message. The head ends at the first ``CRLF CRLF``;
  its Content-Length header (long or compact ``l``, possibly folded) gives
  the body length. A stream message MUST carry Content-Length (§18.3,
  §20.14), because nothing else tells where the next message starts.

Once head and body are buffered the framer emits :class:`FramedMessage` with
exactly those octets (the parser is not run here); the rest stays buffered as
the start of the next message (RFC 4475 §3.1.1.8 dblreq).

Errors and re-synchronisation. A :class:`FramingError` is emitted, and the
framer stops (``closed``), when the octets cannot be split reliably:

=====================================================  ======  ============
condition                                              status  ``head``
=====================================================  ======  ============
no ``CRLF CRLF`` within ``max_message_size`` octets    513     ``None``
more than ``max_header_lines`` header lines            513     the head
Content-Length missing, negative, non-numeric,         400     the head
or several *differing* values
head + Content-Length > ``max_message_size``           513     the head
=====================================================  ======  ============

The caller then sends ``FramingError.response`` when it is not ``None`` (the
head was known and is a request's: built with ``parse_head`` +
``build_response``), and closes the connection. A
message whose framing was sound but whose headers are wrong (a bad To, even
a repeated identical Content-Length) is delivered as a :class:`FramedMessage`:
``parse_message``/``validate`` reject it, the caller answers 400 and the
connection goes on, since the next message's start is known.

Memory: while ``next_event()`` returns ``None`` at most ``max_message_size``
octets are buffered (a larger incomplete message is an error at once).

A connection's first request usually arrives alone and whole. For that case
``parse_whole(data)`` parses it directly and returns it only when the framer,
idle and fed ``data``, would have delivered exactly ``data`` as one
:class:`FramedMessage`: no leading CRLF, the parse succeeded (so the head ends
at the first ``CRLF CRLF`` and its one Content-Length, long or compact name,
any case, is ``1*DIGIT`` of at most 10 significant digits: the framer's rule),
and that length covers exactly the rest of ``data``, within both limits. Anything else
returns ``None`` and goes through ``receive_data``/``next_event`` as always
(measured: ~7 µs less per new connection's first REGISTER, the framer's
scans and copies of a 2 KB request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._build import build_response
from ._errors import SipError
from ._message import Request
from ._parse import parse_head, parse_split
from ._received import stamp_source

__all__ = ["FramedMessage", "FramingError", "KeepAlivePing", "StreamFramer"]

_CRLF: Final = b"\r\n"
_PING: Final = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class FramedMessage:
    """One complete message's octets: head, blank line and Content-Length body."""

    data: bytes
    """Feed this to ``parse_message``."""


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """A double-CRLF keep-alive ping (RFC 5626 §4.4.1)."""

    pong_needed: bool = True
    """Answer with a single CRLF (always true for a received ping)."""


@dataclass(frozen=True, slots=True)
class FramingError:
    """The stream cannot be split into messages any more: close the connection.

    When ``head`` is set the head of the offending message is known; if it is
    a request, answer it (``parse_head(head)``, ``build_response(req,
    status, reason)``) before closing.
    """

    status: int
    """The status to answer with (400, or 513 Message Too Large)."""
    reason: str
    """A reason phrase describing the framing problem."""
    head: bytes | None = None
    """The head of the message in error (start line through the blank line), if known."""
    close: bool = True
    """Always true: after a framing error the stream cannot be re-synchronised."""

    @property
    def answerable(self) -> bool:
        """Whether the head of the message in error is known."""
        return self.head is not None

    @property
    def response(self) -> bytes | None:
        """The response to send before closing, or ``None`` (head unknown, head
        of a response, or too broken to copy Via/From/To/Call-ID/CSeq from).

        Built without a To tag: the connection closes right after, so no
        dialog can follow; use ``respond(to_tag)`` to add one.
        """
        return self.respond()

    def respond(
        self, to_tag: str | None = None, *, source: tuple[str, int] | None = None
    ) -> bytes | None:
        """:attr:`response`, with ``to_tag`` added to the To (RFC 3261 §8.2.6.2) and,
        given the peer's ``source`` (IP, port), its top Via recording it (RFC 3261
        §18.2.1, RFC 3581 §4: ``stamp_source``)."""
        if self.head is None:
            return None
        try:
            message: Request | object = parse_head(self.head)
        except SipError as exc:
            message = exc.request
        if not isinstance(message, Request) or not message.get_all("via"):
            return None  # RFC 3261 §18.2.2: no Via, nowhere to send a response
        try:
            if source is not None:
                stamp_source(message, source[0], source[1])
            return build_response(message, self.status, self.reason, to_tag=to_tag)
        except SipError:
            return None


class StreamFramer:
    """Splits one stream connection's octets into SIP messages and keep-alives.

    ``max_message_size`` bounds head + body (and so the buffer);
    ``max_header_lines`` bounds the number of header lines in a head.
    """

    # Slots: one framer per connection, thousands of connections.
    __slots__ = ("_buffer", "_closed", "_scanned", "_total", "max_header_lines", "max_message_size")

    def __init__(self, max_message_size: int = 65535, max_header_lines: int = 256) -> None:
        self.max_message_size = max_message_size
        self.max_header_lines = max_header_lines
        self._buffer = bytearray()
        self._scanned = 0  # octets already searched for CRLF CRLF
        self._total: int | None = None  # head + body length of the message being read
        self._closed = False

    @property
    def closed(self) -> bool:
        """True after a :class:`FramingError`: further data is ignored."""
        return self._closed

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned in an event."""
        return len(self._buffer)

    @property
    def idle(self) -> bool:
        """Nothing buffered and not closed: the next octets start a new message."""
        return not self._buffer and not self._closed

    def receive_data(self, data: bytes) -> None:
        """Append octets read from the connection."""
        if not self._closed:
            self._buffer += data

    def next_event(self) -> FramedMessage | KeepAlivePing | FramingError | None:
        """The next event, or ``None`` when more data is needed."""
        if self._closed:
            return None
        buf = self._buffer
        total = self._total
        if total is None:
            while buf[:2] == _CRLF:
                if buf[:4] == _PING:
                    del buf[:4]
                    return KeepAlivePing()
                if len(buf) < 4 and _PING.startswith(buf):
                    return None  # may still become a ping
                del buf[:2]  # a lone CRLF before a start line
            if not buf:
                return None
            end = buf.find(_PING, max(0, self._scanned - 3))
            if end < 0:
                if len(buf) > self.max_message_size:
                    return self._fail(513, "Message Too Large")
                self._scanned = len(buf)
                return None
            head_length = end + 4
            if head_length > self.max_message_size:
                return self._fail(513, "Message Too Large")
            head = bytes(buf[:head_length])
            if head.count(_CRLF) - 2 > self.max_header_lines:
                return self._fail(513, "Message Too Large: too many header lines", head)
            length = _content_length(head)
            if isinstance(length, str):
                return self._fail(400, length, head)
            total = head_length + length
            if total > self.max_message_size:
                return self._fail(513, "Message Too Large", head)
            self._total = total
        if len(buf) < total:
            return None
        data = bytes(buf[:total])
        del buf[:total]
        self._total = None
        self._scanned = 0
        return FramedMessage(data)

    def parse_whole(self, data: bytes) -> tuple[Request, int] | None:
        """The request in ``data`` and its head's length, when ``data`` is exactly
        one request that this framer (idle) would deliver whole; else ``None``
        (see the module docstring). The framer's state does not change."""
        if (
            not self.idle
            or len(data) > self.max_message_size
            or data[:2] == _CRLF  # a ping or CRLFs before the start line: the framer's
        ):
            return None
        try:
            message, head_length = parse_split(data)
        except SipError:
            return None  # the framer and the core report it as before
        if not isinstance(message, Request):
            return None
        lengths = message.headers.get("content-length")
        if (
            lengths is None
            or len(lengths) != 1  # (several: the framer's rule, not this one)
            or head_length + len(message.body) != len(data)  # not all of data
            # Never fewer LFs than CRLFs: within the limit by LFs is within it.
            or data.count(b"\n", 0, head_length) - 2 > self.max_header_lines
        ):
            return None
        return message, head_length

    def _fail(self, status: int, reason: str, head: bytes | None = None) -> FramingError:
        self._closed = True
        self._buffer.clear()
        return FramingError(status, reason, head)


def _content_length(head: bytes) -> int | str:
    """The body length announced by ``head``, or the reason it cannot be known.

    Looks for header lines named ``Content-Length`` or ``l`` (any case,
    optional SP/HTAB before the colon; the value may be folded). Identical
    repeats frame fine (the parser rejects them later); differing ones don't.
    """
    lowered = head.lower()
    found: int | None = None
    for name in (b"\r\ncontent-length", b"\r\nl"):
        pos = lowered.find(name)
        while pos >= 0:
            pos += len(name)
            colon = pos
            while lowered[colon : colon + 1] in (b" ", b"\t"):
                colon += 1
            if lowered[colon : colon + 1] == b":":
                line_end = lowered.find(_CRLF, colon)
                while lowered[line_end + 2 : line_end + 3] in (b" ", b"\t"):
                    line_end = lowered.find(_CRLF, line_end + 2)  # folded value
                raw = head[colon + 1 : line_end].strip(b" \t\r\n")
                significant = raw.lstrip(b"0")
                if not (raw.isdigit() and len(significant) <= 10):
                    return "Invalid Content-Length header"
                value = int(significant or b"0")
                if found is not None and found != value:
                    return "Conflicting Content-Length headers"
                found = value
            pos = lowered.find(name, pos)
    if found is None:
        return "Missing Content-Length header"
    return found
