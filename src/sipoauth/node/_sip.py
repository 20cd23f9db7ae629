"""asyncio SIP listeners: TLS on the SIP Phone OAuth Port, mTLS on the SIP MRA Port (R5).

The only socket code for SIP. Each connection wraps a sans-IO `SipConnection`;
this module moves bytes, checks the edge's certificate on the MRA port, keeps
the flow table, and never lets one client's failure reach another: every
callback catches its own errors and closes only its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import structlog

from sipoauth.pki import EdgeEntry, match_edge, peer_names
from sipoauth.registrar import CoreResult, Flow, SipConnection, SipCore

from ._flows import FlowTable

log = structlog.get_logger("sipoauth.sip")


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One SIP listener to open."""

    name: str
    """`SIP Phone OAuth Port` or `SIP Mobile and Remote Access Port`."""
    host: str
    port: int
    ssl_context: ssl.SSLContext
    via_edge: bool
    """True for the MRA port: clients must be configured edges (mTLS)."""


class SipEndpoint:
    """State shared by every connection of the CallManager service on this node."""

    def __init__(
        self,
        core: SipCore,
        flows: FlowTable,
        *,
        node_name: str,
        edges: Callable[[], list[EdgeEntry]],
        on_result: Callable[[CoreResult], None],
        max_message_size: int,
        handshake_timeout: float,
    ) -> None:
        self.core = core
        self.flows = flows
        self.node_name = node_name
        self.edges = edges
        self.on_result = on_result
        self.max_message_size = max_message_size
        self.handshake_timeout = handshake_timeout
        self.connections: set[SipStreamProtocol] = set()
        self.accepted = 0
        """Connections accepted since the service started."""
        self._ids = itertools.count(1)
        self._unflushed: list[SipStreamProtocol] = []

    def flush_soon(self, conn: SipStreamProtocol) -> None:
        """Write `conn`'s TLS output once this turn of the event loop has read.

        Every connection that became readable in one turn is read and answered
        first; the answers are then written together, in the order they were
        made. Measured with `bench/register.py` (1,000 phones, steady): 2-7 %
        more REGISTERs per server CPU-second on a quiet machine, more on a busy
        one, and a fifth less system time than writing each answer as it is
        made, because the phones woken by an answer no longer interrupt the node
        between two requests (docs/benchmarks.md). An answer waits at most for
        the requests read with it.
        """
        unflushed = self._unflushed
        if not unflushed:
            asyncio.get_running_loop().call_soon(self._flush_all)
        unflushed.append(conn)

    def _flush_all(self) -> None:
        unflushed, self._unflushed = self._unflushed, []
        for conn in unflushed:
            try:
                conn.flush()
            except Exception:  # one connection's failure must not hold back the others
                log.exception("sip connection failed", flow=conn.flow_id)
                conn.abort()

    def next_flow_id(self) -> str:
        return f"{self.node_name}/{next(self._ids)}"

    def close_idle(self, now: float, idle_timeout: float) -> int:
        """Close connections silent for longer than `idle_timeout`; returns how many."""
        idle = [c for c in self.connections if now - c.last_activity > idle_timeout]
        for conn in idle:
            conn.close()
        return len(idle)

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.close()


class SipStreamProtocol(asyncio.Protocol):
    """One TLS connection carrying SIP.

    TLS runs here over memory BIOs on a plain TCP transport rather than in the
    event loop's SSL transport: measured on this machine (2 cores, uvloop) a
    1.2 KB request/response exchange costs ~17 µs of server CPU this way
    against ~33 µs through uvloop's SSL transport, and ~20 KB instead of
    ~25 KB per idle connection. The handshake timeout is ours to enforce.
    """

    __slots__ = (
        "_conn", "_endpoint", "_flush_queued", "_handshake_timer", "_in", "_out", "_spec",
        "_ssl", "_transport", "flow_id", "last_activity",
    )  # fmt: skip

    def __init__(self, endpoint: SipEndpoint, spec: ListenerSpec) -> None:
        self._endpoint = endpoint
        self._spec = spec
        self._transport: asyncio.Transport | None = None
        self._conn: SipConnection | None = None
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl: ssl.SSLObject | None = None
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._flush_queued = False
        self.flow_id = ""
        self.last_activity = time.time()

    # asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._ssl = self._spec.ssl_context.wrap_bio(self._in, self._out, server_side=True)
        loop = asyncio.get_running_loop()
        self._handshake_timer = loop.call_later(
            self._endpoint.handshake_timeout, self._handshake_expired
        )
        self._endpoint.connections.add(self)
        self._endpoint.accepted += 1

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self._conn is None and self._transport is not None:
            log.info("tls handshake timed out", remote=self._remote())
            self._transport.abort()

    def _remote(self) -> str:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def _source(self) -> tuple[str, int] | None:
        """The peer's (IP address, port); an IPv4 peer of a dual-stack socket as IPv4,
        an IPv6 one without its zone (RFC 3261 §25.1 received takes none)."""
        peer = self._transport.get_extra_info("peername") if self._transport else None
        if not isinstance(peer, tuple) or len(peer) < 2:
            return None
        host, port = str(peer[0]).split("%", 1)[0], int(peer[1])  # no IPv6 zone in received
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(host)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                host = str(address.ipv4_mapped)
            else:
                host = str(address)
        return host, port

    def _handshake(self) -> bool:
        """Advance the handshake; True once it is complete and the peer accepted."""
        sslobj = self._ssl
        transport = self._transport
        assert sslobj is not None and transport is not None
        try:
            sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_soon()  # the server's flight
            return False
        except (ssl.SSLError, OSError) as exc:
            self._flush()  # the alert, if any
            log.info(
                "tls handshake failed",
                remote=self._remote(),
                listener=self._spec.name,
                why=getattr(exc, "reason", None) or type(exc).__name__,
            )
            transport.close()
            return False
        # No flush here: the session ticket leaves with the first response, in one
        # write (data_received flushes after the request that usually follows).
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        endpoint = self._endpoint
        remote = self._remote()
        edge: str | None = None
        if self._spec.via_edge:
            edge = self._check_edge(sslobj, remote)
            if edge is None:
                transport.close()
                return False
        self.flow_id = endpoint.next_flow_id()
        flow = Flow(
            self.flow_id,
            via_edge=self._spec.via_edge,
            edge=edge,
            remote=remote,
            source=self._source(),
        )
        self._conn = SipConnection(
            endpoint.core,
            flow,
            max_message_size=endpoint.max_message_size,
            observer=endpoint.on_result,
        )
        endpoint.flows.add(self.flow_id, self)
        return True

    def _check_edge(self, sslobj: ssl.SSLObject, remote: str) -> str | None:
        """R6: the client certificate (already chained to tomcat-trust by the handshake)
        must name a configured edge entry."""
        der = sslobj.getpeercert(binary_form=True)
        if not der:
            log.info("mra connection refused", remote=remote, why="no client certificate")
            return None
        names = peer_names(der)
        entry = match_edge(names, self._endpoint.edges())
        if entry is None:
            log.info(
                "mra connection refused",
                remote=remote,
                why="no matching edge entry",
                names=sorted(names),
            )
            return None
        return entry.address

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        sslobj = self._ssl
        if transport is None or sslobj is None:
            return
        self._in.write(data)
        if self._conn is None and not self._handshake():
            return
        conn = self._conn
        assert conn is not None
        now = time.time()
        self.last_activity = now
        incoming = self._in
        try:
            while True:
                try:
                    plain = sslobj.read(65536)
                except ssl.SSLWantReadError:
                    break
                if not plain:  # close_notify
                    self._flush()
                    transport.close()
                    return
                out = conn.receive_data(plain, now)
                for chunk in out.data:
                    sslobj.write(chunk)
                if out.close:
                    self._flush()
                    transport.close()
                    return
                if not incoming.pending and not sslobj.pending():
                    break
        except ssl.SSLError as exc:
            log.info("tls error", flow=self.flow_id, why=exc.reason or type(exc).__name__)
            self._flush()
            transport.close()
            return
        except Exception:  # one bad client must never take the node down
            log.exception("sip connection failed", flow=self.flow_id)
            transport.abort()
            return
        self._flush_soon()

    def _flush_soon(self) -> None:
        if not self._flush_queued and self._out.pending:
            self._flush_queued = True
            self._endpoint.flush_soon(self)

    def flush(self) -> None:
        """Write what TLS has produced for the peer (nothing once the connection closes)."""
        self._flush_queued = False
        if self._transport is not None and not self._transport.is_closing():
            self._flush()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _flush(self) -> None:
        pending = self._out.pending
        if pending and self._transport is not None:
            self._transport.write(self._out.read())

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        endpoint = self._endpoint
        endpoint.connections.discard(self)
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        if self.flow_id:
            # The flow is dead; its bindings live until they expire (RFC 5626 §4.2).
            endpoint.flows.remove(self.flow_id)
        self._transport = None
        self._conn = None
        self._ssl = None

    def pause_writing(self) -> None:
        # Backpressure: stop reading from a peer that does not read its answers.
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    # FlowWriter ---------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send bytes to the peer over TLS (requests from the node, e.g. NOTIFY)."""
        if self._ssl is None or self._conn is None or self._transport is None:
            return
        if self._transport.is_closing():
            return
        self._ssl.write(data)
        self._flush()

    def close(self) -> None:
        """Close politely: TLS close_notify, then the socket."""
        if self._transport is None:
            return
        if self._ssl is not None and self._conn is not None:
            with contextlib.suppress(ssl.SSLError, ValueError):
                self._ssl.unwrap()
            self._flush()
        self._transport.close()


async def open_listener(endpoint: SipEndpoint, spec: ListenerSpec) -> asyncio.Server:
    """Start one listener (TCP; TLS is done by the protocol)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SipStreamProtocol(endpoint, spec),
        spec.host,
        spec.port,
        reuse_address=True,
        backlog=1024,
    )
