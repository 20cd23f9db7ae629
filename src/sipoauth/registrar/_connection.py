"""One SIP stream connection (TLS), sans-IO: bytes in, bytes out.

Feed received bytes with `receive_data`; it returns what to write back and
whether the connection must now be closed. Framing errors that leave the stream
unsynchronised close it (after a 400 when one can be built); a message that is
framed correctly but invalid is answered and the connection carries on, so one
bad message never costs a device its connection (RFC 4475 §3.1.2).

Each connection has a `ParseCache`. When the framer holds nothing and the bytes
just read are exactly one request repeating the layout of a recent valid request
on this connection (a phone's re-REGISTER), the cache parses it by comparison and
the framer is skipped: a match is by construction what the framer would deliver
(one head with the learned header lines, its one Content-Length covering the
rest of the bytes; see `sipoauth.sip._cache`). Otherwise bytes that are exactly
one whole request, as a new connection's first REGISTER usually is, are parsed
directly (`StreamFramer.parse_whole`, which takes them only when the framer would
deliver them as they are). Anything else takes the framer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sipoauth.sip import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FramedMessage,
    FramingError,
    KeepAlivePing,
    ParseCache,
    StreamFramer,
)

from ._core import CoreResult, SipCore
from ._registrar import Flow

PONG = b"\r\n"


@dataclass(slots=True)
class ConnectionOutput:
    """What to do after some bytes arrived."""

    data: list[bytes] = field(default_factory=list)
    """Writes, in order."""
    close: bool = False
    """Close the connection after writing."""
    results: list[CoreResult] = field(default_factory=list)
    """Per-message outcomes (binding changes, log details)."""


class SipConnection:
    """Framer + UAS core for one connection."""

    __slots__ = ("_cache", "_core", "_direct_max", "_framer", "_observer", "flow")

    def __init__(
        self,
        core: SipCore,
        flow: Flow,
        *,
        max_message_size: int = 65535,
        observer: Callable[[CoreResult], None] | None = None,
    ) -> None:
        self._core = core
        self._framer = StreamFramer(max_message_size=max_message_size)
        self._cache = ParseCache()
        # Largest request the fast path takes: what both the framer and
        # parse_message accept.
        self._direct_max = min(max_message_size, DEFAULT_MAX_MESSAGE_SIZE)
        self._observer = observer
        self.flow = flow

    def receive_data(self, data: bytes, now: float) -> ConnectionOutput:
        """Process newly received bytes."""
        framer = self._framer
        if framer.idle and len(data) <= self._direct_max:
            request = self._cache.match(data)
            if request is None:  # e.g. a new connection's first request
                whole = framer.parse_whole(data)
                if whole is not None:
                    request, head_length = whole
                    self._cache.remember(data[:head_length], request)  # as parse_message
            if request is not None:  # exactly one request, as the framer would frame it
                result = self._core.handle_request(request, self.flow, now)
                if self._observer is not None:
                    self._observer(result)
                response = result.response
                return ConnectionOutput([] if response is None else [response], False, [result])
        out = ConnectionOutput()
        framer.receive_data(data)
        while True:
            event = framer.next_event()
            if event is None:
                return out
            if isinstance(event, FramedMessage):
                self._deliver(self._core.handle(event.data, self.flow, now, self._cache), out)
            elif isinstance(event, KeepAlivePing):
                if event.pong_needed:
                    out.data.append(PONG)
            elif isinstance(event, FramingError):
                response = event.respond(self._core.registrar.new_tag(), source=self.flow.source)
                if response is not None:
                    out.data.append(response)
                if event.close:
                    out.close = True
                    return out

    def _deliver(self, result: CoreResult, out: ConnectionOutput) -> None:
        if result.response is not None:
            out.data.append(result.response)
        out.results.append(result)
        if self._observer is not None:
            self._observer(result)
