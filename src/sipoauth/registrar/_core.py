"""The node's SIP UAS core: from one framed message to the response to send.

Theory of operation, per request (RFC 3261 §8.2, §17.2):
  parse (with the connection's ParseCache: a request repeating a recent one is
    parsed by comparison) → drop responses (a registrar answers none; RFC 4475 §3.3.10)
  → validate (400 naming the header; RFC 3261 §8.2.6 when a response can be built)
  → the top Via of every response records the source address (RFC 3261
    §18.2.1 received, RFC 3581 rport)
  → ACK absorbed, never answered (§17; the ACK of a non-2xx final response
    confirms its INVITE transaction, §17.2.1)
  → server transaction match (§17.2.3): a retransmission gets the stored answer
    again, never a second processing
  → UAS inspection (§8.2: 501/405, 416, 420, 415/406)
  → method: REGISTER to the registrar, OPTIONS answered here (§11.2), ACK
    absorbed, CANCEL 481 (no INVITE transactions on this node), INVITE 480
    (this node does not route calls yet)
  → the response is stored in the transaction and returned.
Processing is synchronous, so the transaction is recorded once, when its outcome
is known (complete, or pending when there is no response or processing failed):
nothing can look it up in between.
Sans-IO: `now` is passed in, nothing here touches a socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipoauth.sip import (
    PENDING,
    ParseCache,
    Request,
    ServerTransactions,
    SipError,
    build_response,
    inspect_request,
    parse_message,
    stamp_source,
)

from ._bindings import BindingChange
from ._registrar import Flow, Registrar

KNOWN_METHODS = frozenset(
    {
        "REGISTER", "OPTIONS", "INVITE", "ACK", "CANCEL", "BYE", "SUBSCRIBE", "NOTIFY",
        "REFER", "INFO", "UPDATE", "PRACK", "MESSAGE", "PUBLISH",
    }
)  # fmt: skip
ALLOWED_METHODS = frozenset({"REGISTER", "OPTIONS", "INVITE", "ACK", "CANCEL"})
SUPPORTED_OPTIONS = frozenset({"path"})
ACCEPTED_BODIES: dict[str, frozenset[str]] = {
    "INVITE": frozenset({"application/sdp"}),
    "OPTIONS": frozenset(),
    "REGISTER": frozenset(),
}
ALLOW_HEADER = ", ".join(sorted(ALLOWED_METHODS))


@dataclass(slots=True)
class CoreResult:
    """The outcome of one message."""

    response: bytes | None
    """Bytes to send back on the connection, or None (dropped, absorbed, pending)."""
    status: int = 0
    method: str = ""
    changes: list[BindingChange] = field(default_factory=list)
    """Registrar binding changes to mirror to the store."""
    device: str | None = None
    detail: str = ""
    retransmission: bool = False


class SipCore:
    """Turns framed SIP messages into responses for one node."""

    def __init__(self, registrar: Registrar, transactions: ServerTransactions) -> None:
        self.registrar = registrar
        self.transactions = transactions
        self._options_headers = (
            ("Allow", ALLOW_HEADER),
            ("Accept", "application/sdp"),
            ("Supported", ", ".join(sorted(SUPPORTED_OPTIONS))),
        )

    def handle(
        self, data: bytes, flow: Flow, now: float, cache: ParseCache | None = None
    ) -> CoreResult:
        """Process one complete message received on `flow` (`cache`: the flow's ParseCache)."""
        try:
            message = parse_message(data, cache=cache)
        except SipError as exc:
            # RFC 4475 §3.1.2: answer 400/505 when the headers allow it, else drop.
            if exc.request is not None:
                _stamp(exc.request, flow)
                return self._error_response(exc.request, exc)
            return CoreResult(None, exc.status, detail=f"unparseable: {exc.reason}")
        if not isinstance(message, Request):
            return CoreResult(None, detail="response received; a registrar answers none")
        return self.handle_request(message, flow, now)

    def handle_request(self, request: Request, flow: Flow, now: float) -> CoreResult:
        """Process one parsed request received on `flow`, from validation on."""
        try:
            request.validate()
        except SipError as exc:
            _stamp(request, flow)
            return self._error_response(request, exc)
        _stamp(request, flow)

        if request.method == "ACK":
            # An ACK is never answered (§17): the ACK of a non-2xx final response
            # matches its INVITE's transaction (§17.2.3) and confirms it (§17.2.1);
            # sending that response again would draw another ACK, without end.
            return CoreResult(None, method="ACK", detail="ACK absorbed")
        transactions = self.transactions
        key = transactions.key(request)
        previous = transactions.lookup(key, now)
        if previous is not None:
            if previous is PENDING:
                return CoreResult(None, method=request.method, retransmission=True)
            return CoreResult(previous, method=request.method, retransmission=True)

        try:
            result = self._dispatch(request, flow, now)
        except BaseException:
            transactions.start(key, now)  # its retransmissions are absorbed, as while processing
            raise
        if result.response is not None:
            transactions.complete(key, result.response, now, call_id=request.call_id)
        else:
            transactions.start(key, now)
        return result

    def _dispatch(self, request: Request, flow: Flow, now: float) -> CoreResult:
        method = request.method
        tag = self.registrar.new_tag  # RFC 3261 §8.2.6.2: every final response gets a To tag
        try:
            refusal = inspect_request(
                request,
                allowed_methods=ALLOWED_METHODS,
                known_methods=KNOWN_METHODS,
                supported_options=SUPPORTED_OPTIONS,
                accepted_body_types=ACCEPTED_BODIES,
                to_tag=tag,  # made only if a refusal is built
            )
        except SipError as exc:
            return self._error_response(request, exc)
        if refusal is not None:
            return CoreResult(refusal, _status_of(refusal), method, detail="UAS inspection")
        if method == "REGISTER":
            outcome = self.registrar.register(request, flow, now)
            return CoreResult(
                outcome.response,
                outcome.status,
                method,
                outcome.changes,
                outcome.device,
                outcome.detail,
            )
        if method == "OPTIONS":
            response = build_response(
                request, 200, "OK", headers=self._options_headers, to_tag=tag()
            )
            return CoreResult(response, 200, method)
        if method == "CANCEL":
            response = build_response(request, 481, "Call/Transaction Does Not Exist", to_tag=tag())
            return CoreResult(response, 481, method)
        # INVITE passed the §8.2 checks; calls are not routed by this node yet.
        response = build_response(request, 480, "Temporarily Unavailable", to_tag=tag())
        return CoreResult(response, 480, method, detail="call routing not available")

    def _error_response(self, request: Request, exc: SipError) -> CoreResult:
        # RFC 3261 §18.2.2: a response travels along the top Via; without one (octets
        # that merely look like a request line) there is nobody to answer.
        if not request.get_all("via"):
            return CoreResult(None, exc.status, request.method, detail=exc.reason)
        try:
            response = build_response(
                request,
                exc.status,
                exc.reason,
                headers=exc.headers,
                to_tag=self.registrar.new_tag(),
            )
        except SipError:
            return CoreResult(None, exc.status, request.method, detail=exc.reason)
        return CoreResult(response, exc.status, request.method, detail=exc.reason)


def _stamp(request: Request, flow: Flow) -> None:
    """Record where `request` came from in the top Via of its responses (RFC 3261
    §18.2.1, RFC 3581 §4)."""
    source = flow.source
    if source is not None:
        stamp_source(request, source[0], source[1])


def _status_of(response: bytes) -> int:
    """Status code of a response we built (`SIP/2.0 NNN …`)."""
    return int(response[8:11])
