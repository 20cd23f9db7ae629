"""The edge's SIP relay, sans-IO: one outside flow paired with one node flow.

Theory of operation
-------------------
An Expressway-C/E pair keeps, for every device connection from outside, one
mutual-TLS connection to a node's SIP MRA port: the two are one *flow*
(RFC 5626 §3) and live and die together. A :class:`SipRelay` is the protocol
state of one such pair. The I/O layer feeds it the octets read on either side
(``receive_outside`` / ``receive_inside``, with ``now``) and writes what the
returned :class:`RelayOutput` says; it never touches a socket or a clock.

Outside → node (a device's requests). Each stream message is framed and
parsed with our own parser and fully validated *here*: a malformed message
is answered 400 (or dropped when nothing can be answered) and never reaches a
node (issue 6 point 3). A valid request is forwarded as a stateless proxy
would (RFC 3261 §16.6): Max-Forwards decremented (added as 70 when absent;
483 when it is 0, §16.3 step 3), the top Route removed when it names this
edge (loose routing, §16.4), the device's Via given ``received``/``rport``
(§18.2.1, RFC 3581 §4), and this edge's Via put on top with a branch derived
from the device's (§16.11), so a retransmission, an ACK to a non-2xx or a
CANCEL carries the same branch as the request it belongs to. A REGISTER also
gets this edge's ``Path`` as the first value (RFC 3327 §5.2) and
``Require: path``: the node refuses a REGISTER without Path on the MRA port,
and the Require makes a registrar that does not do Path refuse it (420)
rather than keep a binding it could never reach. RFC 3327 §5.2 says a proxy
SHOULD NOT add Path unless the device listed ``path`` in ``Supported``;
deployed phones do not, and the edge is the only way to reach them, so by
default the edge adds it anyway (as the reference's edge does). With
``require_ua_path_support`` it follows the RFC instead: 421 + ``Require: path``.

Node → outside. Responses lose this edge's top Via (a response whose top Via
is not this edge's is dropped, §16.7 step 3) and go down. Requests from the
node (NOTIFY check-sync on reset, routed by the recorded Path, RFC 3327 §5.4)
lose the Route value naming this edge, get Max-Forwards and this edge's Via
and go down the paired connection; the device's response comes back up the
same way. Keep-alive pings from the device (RFC 5626 §4.4.1) are answered
here with a pong, and a ping is sent up (at most once per
``upstream_ping_interval``) so the node's connection stays alive too.

Requests forwarded up and not yet finally answered are remembered (at most
``max_in_flight``): when the node's connection is lost (or could not be made)
they are answered ``503`` + ``Retry-After`` so the device learns at once, as
is any request after that, and the outside connection closes (the flow is
gone; the device reconnects and gets a new one, possibly to another node).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Sequence
from typing import Final

from sipoauth.sip import (
    FramedMessage,
    FramingError,
    KeepAlivePing,
    Request,
    Response,
    SipError,
    SipUri,
    StreamFramer,
    Via,
    build_response,
    parse_message,
    serialize_request,
)
from sipoauth.sip._names import display_name

from ._edge_messages import (
    PING,
    PONG,
    RelayNote,
    RelayOutput,
    RelaySettings,
    copy_headers,
    edge_path,
    next_hop,
    serialize_response,
    uri_host,
)

__all__ = ["BRANCH_PREFIX", "SipRelay"]

BRANCH_PREFIX: Final = "z9hG4bK-edge-"
"""Every branch this edge puts in a Via starts so (RFC 3261 magic cookie first)."""
_WARN_TEXT_MAX: Final = 120


def _new_tag() -> str:
    return secrets.token_hex(4)


class SipRelay:
    """One outside flow and its node flow (see the module doc)."""

    def __init__(
        self,
        settings: RelaySettings,
        *,
        source: tuple[str, int],
        secret: bytes,
        new_tag: Callable[[], str] = _new_tag,
    ) -> None:
        self.settings = settings
        self._source_host = source[0]
        self._source_port = source[1]
        self._secret = secret
        self._new_tag = new_tag
        self._outside = StreamFramer(max_message_size=settings.max_message_size)
        self._inside = StreamFramer(max_message_size=settings.max_upstream_message_size)
        self._in_flight: dict[tuple[str, str], Request] = {}
        self._down: str | None = None
        self._last_ping_up = -math.inf
        self._host = settings.host_in_uri
        self._sent_by = f"{self._host}:{settings.public_port}"
        self._path = edge_path(settings)
        self.forwarded_up = 0
        """Messages sent to the node so far."""
        self.forwarded_down = 0
        """Messages sent to the device so far."""

    @property
    def in_flight(self) -> int:
        """Requests forwarded up and not yet finally answered."""
        return len(self._in_flight)

    @property
    def down(self) -> str | None:
        """Why the node's side is gone, or ``None`` while it is usable."""
        return self._down

    # -- octets in --------------------------------------------------------------------

    def receive_outside(self, data: bytes, now: float) -> RelayOutput:
        """Octets read from the device's connection."""
        out = RelayOutput()
        framer = self._outside
        framer.receive_data(data)
        while not out.close and (event := framer.next_event()) is not None:
            if isinstance(event, FramedMessage):
                self._from_outside(event.data, out)
            elif isinstance(event, KeepAlivePing):
                out.to_outside.append(PONG)
                if self._down is None and now - self._last_ping_up >= (
                    self.settings.upstream_ping_interval
                ):
                    self._last_ping_up = now
                    out.to_inside.append(PING)
            else:
                self._framing_error(event, "outside", out)
        return out

    def receive_inside(self, data: bytes, now: float) -> RelayOutput:
        """Octets read from the node's connection."""
        out = RelayOutput()
        framer = self._inside
        framer.receive_data(data)
        while not out.close and (event := framer.next_event()) is not None:
            if isinstance(event, FramedMessage):
                self._from_inside(event.data, out)
            elif isinstance(event, KeepAlivePing):
                # The node does not ping; two of its pongs back to back read as one.
                # Answering is harmless either way (a lone CRLF is skipped).
                out.to_inside.append(PONG)
            else:
                self._framing_error(event, "inside", out)
        return out

    def upstream_lost(self, why: str) -> RelayOutput:
        """The node's connection failed or closed: answer what is pending with 503
        (``close`` then set); from now on every request is answered so, and
        closes (see ``down``). With nothing pending the I/O layer may keep the
        device's connection a moment to answer its next request."""
        self._down = why
        pending = list(self._in_flight.values())
        out = RelayOutput(close=bool(pending))
        self._in_flight.clear()
        for request in pending:
            self._refuse(request, 503, "Service Unavailable", out, "outside", self._unavailable())
        return out

    # -- from outside -----------------------------------------------------------------

    def _framing_error(self, event: FramingError, side: str, out: RelayOutput) -> None:
        response = event.respond(self._new_tag()) if side == "outside" else None
        if response is not None:
            out.to_outside.append(response)
        out.close = True
        out.notes.append(RelayNote("framing", event.reason, side, status=event.status))

    def _from_outside(self, data: bytes, out: RelayOutput) -> None:
        try:
            message = parse_message(data, max_size=self.settings.max_message_size)
        except SipError as exc:
            if exc.request is not None:
                self._refuse(exc.request, exc.status, exc.reason, out, "outside", exc.headers)
            else:
                out.notes.append(RelayNote("dropped", f"unparseable: {exc.reason}", "outside"))
            return
        if isinstance(message, Response):
            self._relay_response(message, out, "outside")
        else:
            self._request_from_outside(message, out)

    def _request_from_outside(self, req: Request, out: RelayOutput) -> None:
        settings = self.settings
        try:
            req.validate()
            vias = req.values("via")
            top = req.top_via
            routes = req.route
        except SipError as exc:
            self._refuse(req, exc.status, exc.reason, out, "outside", exc.headers)
            return
        method = req.method
        if self._down is not None:
            self._refuse(req, 503, "Service Unavailable", out, "outside", self._unavailable())
            out.close = True
            return
        if req.max_forwards == 0:  # RFC 3261 §16.3 step 3
            self._refuse(req, 483, "Too Many Hops", out, "outside")
            return
        if method != "ACK" and len(self._in_flight) >= settings.max_in_flight:
            busy = (("Retry-After", "5"),)
            self._refuse(req, 503, "Too Many Requests In Progress", out, "outside", busy)
            return
        register = method == "REGISTER"
        if register and settings.require_ua_path_support and "path" not in req.supported:
            required = (("Require", "path"),)  # RFC 3327 §5.2
            self._refuse(req, 421, "Extension Required", out, "outside", required)
            return
        branch = self._branch(req)
        headers = [("Via", f"SIP/2.0/TLS {self._sent_by};branch={branch}")]
        headers.append(("Via", self._with_received(top, vias[0])))
        headers += [("Via", value) for value in vias[1:]]
        headers.append(("Max-Forwards", str(next_hop(req.max_forwards))))
        skip_route = bool(routes) and self._is_me(routes[0].uri)  # RFC 3261 §16.4
        headers += copy_headers(req, skip_route=skip_route, path=self._path if register else None)
        if register:
            if "path" not in req.headers:
                headers.append(("Path", self._path))
            if "path" not in req.require:
                headers.append(("Require", "path"))
        data = serialize_request(method, req.uri, headers, req.body)
        if len(data) > settings.max_upstream_message_size:
            self._refuse(req, 513, "Message Too Large", out, "outside")
            return
        if method != "ACK":
            self._in_flight[(branch, req.cseq.method)] = req
        out.to_inside.append(data)
        self.forwarded_up += 1

    def _branch(self, req: Request) -> str:
        """RFC 3261 §16.11: the same branch for every request of one transaction."""
        top = req.top_via
        if top.has_magic_cookie and top.branch is not None:
            parts = [top.branch, top.sent_by]
        else:  # RFC 2543 peer: what identifies its transaction (§17.2.3)
            parts = [
                str(top),
                req.to.tag or "",
                req.from_.tag or "",
                req.call_id,
                str(req.cseq.seq),
                req.uri,
            ]
        material = "\x00".join(parts).encode("utf-8", "surrogateescape")
        digest = hmac.new(self._secret, material, hashlib.sha256).hexdigest()
        return BRANCH_PREFIX + digest[:24]

    def _with_received(self, top: Via, raw: str) -> str:
        """The device's top Via with ``received`` (RFC 3261 §18.2.1) and the
        ``rport`` value (RFC 3581 §4) of the connection's source."""
        params = dict(top.params)
        source = self._source_host
        if top.host.strip("[]") != source or "rport" in params:
            params["received"] = source
        if "rport" in params and params["rport"] is None:
            params["rport"] = str(self._source_port)
        if params == dict(top.params):
            return raw
        return str(Via(top.protocol, top.transport, top.host, top.port, params))

    # -- from the node ---------------------------------------------------------------

    def _from_inside(self, data: bytes, out: RelayOutput) -> None:
        try:
            message = parse_message(data, max_size=self.settings.max_upstream_message_size)
        except SipError as exc:
            out.notes.append(RelayNote("dropped", f"unparseable: {exc.reason}", "inside"))
            return
        if isinstance(message, Response):
            self._relay_response(message, out, "inside")
        else:
            self._request_from_inside(message, out)

    def _request_from_inside(self, req: Request, out: RelayOutput) -> None:
        try:
            req.validate()
            routes = req.route
        except SipError as exc:
            self._refuse(req, exc.status, exc.reason, out, "inside", exc.headers)
            return
        if req.max_forwards == 0:
            self._refuse(req, 483, "Too Many Hops", out, "inside")
            return
        skip_route = bool(routes) and self._is_me(routes[0].uri)
        if not skip_route:
            # The flow is the route (RFC 5626 §5.3): still the paired device's.
            out.notes.append(RelayNote("routed", "no Route naming this edge", "inside", req.method))
        headers = [("Via", f"SIP/2.0/TLS {self._sent_by};branch={self._branch(req)}")]
        headers += [("Via", value) for value in req.values("via")]
        headers.append(("Max-Forwards", str(next_hop(req.max_forwards))))
        headers += copy_headers(req, skip_route=skip_route, path=None)
        out.to_outside.append(serialize_request(req.method, req.uri, headers, req.body))
        self.forwarded_down += 1

    # -- responses, either way ---------------------------------------------------------

    def _relay_response(self, resp: Response, out: RelayOutput, side: str) -> None:
        """RFC 3261 §16.7 step 3: remove this edge's Via; a response whose top Via
        is not this edge's is not ours to forward."""
        try:
            resp.validate()
            top = resp.top_via
            vias = resp.values("via")
            method = resp.cseq.method
        except SipError as exc:
            out.notes.append(RelayNote("dropped", f"invalid response: {exc.reason}", side))
            return
        if not self._is_ours(top) or len(vias) < 2:
            out.notes.append(
                RelayNote("dropped", "response not sent through this edge", side, method)
            )
            return
        if side == "inside" and resp.status >= 200 and top.branch is not None:
            self._in_flight.pop((top.branch, method), None)
        headers = [("Via", value) for value in vias[1:]]
        headers += [
            (display_name(key), value)
            for key, values in resp.headers.items()
            if key not in ("via", "content-length")
            for value in values
        ]
        data = serialize_response(resp.status, resp.reason, headers, resp.body)
        if side == "inside":
            out.to_outside.append(data)
            self.forwarded_down += 1
        else:
            out.to_inside.append(data)
            self.forwarded_up += 1

    # -- helpers ------------------------------------------------------------------------

    def _refuse(
        self,
        req: Request,
        status: int,
        reason: str,
        out: RelayOutput,
        side: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Answer ``req`` here, back to where it came from (never an ACK, §17)."""
        note = RelayNote("refused", reason, side, req.method, status)
        if req.method == "ACK" or not req.get_all("via"):
            out.notes.append(RelayNote("dropped", reason, side, req.method, status))
            return
        try:
            response = build_response(req, status, reason, headers=headers, to_tag=self._new_tag())
        except SipError:
            out.notes.append(RelayNote("dropped", reason, side, req.method, status))
            return
        (out.to_outside if side == "outside" else out.to_inside).append(response)
        out.notes.append(note)

    def _unavailable(self) -> tuple[tuple[str, str], ...]:
        text = (self._down or "no call-control node available")[:_WARN_TEXT_MAX]
        text = text.replace("\\", "").replace('"', "'")
        return (
            ("Retry-After", str(self.settings.retry_after)),
            ("Warning", f'399 {self._host} "{text}"'),
        )

    def _is_me(self, uri: object) -> bool:
        """Whether a Route URI names this edge (host and port, ``lr`` or not)."""
        if not isinstance(uri, SipUri):
            return False
        port = uri.port if uri.port is not None else 5061
        return uri_host(uri.host) == self._host and port == self.settings.public_port

    def _is_ours(self, via: Via) -> bool:
        branch = via.branch or ""
        return (
            branch.startswith(BRANCH_PREFIX)
            and uri_host(via.host) == self._host
            and via.port == self.settings.public_port
        )
