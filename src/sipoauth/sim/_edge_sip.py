"""The edge's SIP side in asyncio: the TLS listener for devices and, for each
device connection, one mutual-TLS connection to a node's SIP MRA port.

This module only moves octets and opens connections; what is forwarded,
answered or refused is the sans-IO :class:`SipRelay`'s decision. The two
connections of a flow are opened and closed together: a device connection
gets its node connection at once (the first reachable node of the list, in
order, a node that just failed tried last); when either side ends, so does
the other — the device reconnects and gets a new flow, as RFC 5626 §4.2
expects. Requests read before the node's connection is up wait for it (what
they can be is bounded by the relay's in-flight limit). When no node can be
reached, or a node drops the flow, pending requests get 503 from the relay;
with none pending the device connection is kept ``unavailable_grace``
seconds to answer its next request so, then closed.

A node that closes the connection right after the TLS handshake, having sent
nothing, has refused this edge (R6: the certificate chains to tomcat-trust
but names no edge entry; an "unknown CA" alert says it does not even chain):
logged as a warning with what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from typing import Final

import structlog

from ._edge_config import EdgeConfig, NodeAddress, NodeSelector
from ._edge_messages import RelayNote, RelayOutput, RelaySettings
from ._edge_relay import SipRelay

__all__ = ["EdgeSip", "SipFlow"]

log = structlog.get_logger("sipoauth.edge")

READ_SIZE: Final = 65536
REFUSED_WINDOW: Final = 2.0
"""A node closing a new connection this soon, having sent nothing, refused the edge."""
MAX_PENDING_BYTES: Final = 256 * 1024
"""Octets a flow holds for a node connection still being opened."""
CLOSE_TIMEOUT: Final = 2.0
"""Seconds a TLS close may take (close_notify) before the socket is aborted."""
UNAVAILABLE: Final = "no call-control node available"
LOST: Final = "connection to the call-control node lost"


class EdgeSip:
    """The SIP listener for devices and its flows."""

    def __init__(
        self,
        config: EdgeConfig,
        selector: NodeSelector,
        outside_context: ssl.SSLContext,
        upstream_context: ssl.SSLContext,
        *,
        secret: bytes,
    ) -> None:
        self.config = config
        self.selector = selector
        self._outside_context = outside_context
        self.upstream_context = upstream_context
        self.secret = secret
        self.settings: RelaySettings | None = None
        """Set by :meth:`start` (the public port may be the bound one)."""
        self.flows: set[SipFlow] = set()
        """Live flows."""
        self.accepted = 0
        """Device connections accepted since start."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    async def start(self) -> int:
        """Listen; returns the bound port."""
        config = self.config
        self._server = await asyncio.start_server(
            self._accept,
            config.bind,
            config.sip_port,
            ssl=self._outside_context,
            ssl_handshake_timeout=config.handshake_timeout,
            reuse_address=True,
            backlog=1024,
        )
        port: int = self._server.sockets[0].getsockname()[1]
        self.settings = RelaySettings(
            public_host=config.public_host,
            public_port=config.public_sip_port or port,
            max_message_size=config.max_message_size,
            max_in_flight=config.max_in_flight,
            require_ua_path_support=config.require_ua_path_support,
            retry_after=config.retry_after,
        )
        return port

    async def stop(self) -> None:
        """Stop listening and close every flow."""
        if self._server is not None:
            self._server.close()
        for flow in list(self.flows):
            flow.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_TIMEOUT * 2)
        if self._tasks:  # a peer that never lets its TLS close finish
            for task in self._tasks:
                task.cancel()
            await asyncio.wait(list(self._tasks), timeout=CLOSE_TIMEOUT)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT)
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self.settings is not None
        self._tasks.add(task)
        self.accepted += 1
        flow = SipFlow(self, reader, writer, f"edge/{next(self._ids)}")
        self.flows.add(flow)
        try:
            await flow.run()
        except Exception:  # one device's failure never reaches another's
            log.exception("flow failed", flow=flow.flow_id)
        finally:
            self.flows.discard(flow)
            self._tasks.discard(task)


class SipFlow:
    """One device connection and its node connection."""

    def __init__(
        self,
        sip: EdgeSip,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        flow_id: str,
    ) -> None:
        assert sip.settings is not None
        self._sip = sip
        self.flow_id = flow_id
        peer = writer.get_extra_info("peername")
        host, port = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("unknown", 0)
        self.remote = f"{host}:{port}"
        self.relay = SipRelay(sip.settings, source=(host, port), secret=sip.secret)
        self.node: NodeAddress | None = None
        """The node this flow reached, once connected."""
        self._reader = reader
        self._outside = writer
        self._upstream: asyncio.StreamWriter | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._closed = False
        self._log = log.bind(flow=flow_id, remote=self.remote)

    async def run(self) -> None:
        """Relay until either side ends."""
        upstream = asyncio.create_task(self._upstream_side(), name=f"{self.flow_id} upstream")
        try:
            while not self._closed:
                try:
                    data = await self._reader.read(READ_SIZE)
                except OSError:  # ssl.SSLError included: a broken device connection
                    break
                if not data:
                    break
                await self._apply(self.relay.receive_outside(data, time.monotonic()))
        finally:
            self.close()
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upstream
            await _finish(self._outside)
            if self._upstream is not None:
                await _finish(self._upstream)
            self._log.info(
                "flow closed",
                node=None if self.node is None else _where(self.node),
                up=self.relay.forwarded_up,
                down=self.relay.forwarded_down,
            )

    def close(self) -> None:
        """Close both connections (what is written is still sent)."""
        self._closed = True
        self._outside.close()
        if self._upstream is not None:
            self._upstream.close()

    async def _apply(self, out: RelayOutput) -> None:
        for note in out.notes:
            self._note(note)
        try:
            if out.to_outside and not self._outside.is_closing():
                self._outside.writelines(out.to_outside)
                await self._outside.drain()
            if out.to_inside:
                upstream = self._upstream
                if upstream is not None:
                    if not upstream.is_closing():
                        upstream.writelines(out.to_inside)
                        await upstream.drain()
                elif self.relay.down is None:
                    self._pending += out.to_inside
                    self._pending_bytes += sum(map(len, out.to_inside))
                    if self._pending_bytes > MAX_PENDING_BYTES:
                        self._log.warning("too much waiting for the node connection")
                        self.close()
        except OSError:  # a connection broke while writing: its reader sees it too
            self.close()
        if out.close:
            self.close()

    def _note(self, note: RelayNote) -> None:
        fields = {"side": note.side, "why": note.detail}
        if note.method:
            fields["method"] = note.method[:32]
        if note.event == "routed":
            self._log.debug("request from the node routed by flow", **fields)
        else:
            self._log.info(f"sip {note.event}", status=note.status or None, **fields)

    # -- the node's side ---------------------------------------------------------------

    async def _upstream_side(self) -> None:
        opened = await self._connect()
        if opened is None:
            await self._lost(UNAVAILABLE)
            return
        reader, writer = opened
        self._upstream = writer
        if self._closed:
            return
        if self._pending:
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            try:
                writer.writelines(pending)
                await writer.drain()
            except OSError:
                pass  # the read below sees it
        connected = time.monotonic()
        received = False
        why = "closed by the node"
        try:
            while not self._closed:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                received = True
                await self._apply(self.relay.receive_inside(data, time.monotonic()))
        except ssl.SSLError as exc:
            why = f"TLS: {exc.reason or exc}"
        except OSError as exc:
            why = f"{type(exc).__name__}: {exc}"
        if self._closed:
            return
        node = self.node
        assert node is not None
        refused = not received and time.monotonic() - connected < REFUSED_WINDOW
        if refused or "UNKNOWN_CA" in why.upper() or "CERTIFICATE" in why.upper():
            self._sip.selector.failed(node, time.monotonic())
            self._log.warning(
                "node refused this edge",
                node=_where(node),
                why=why,
                check=(
                    "the edge's CA must be in the node's tomcat-trust and an edge entry "
                    "must name its client certificate (sipoauth edges add ADDRESS "
                    f"--x509-name {self._sip.config.public_host}; or let the edge push)"
                ),
            )
        else:
            self._log.info("node connection lost", node=_where(node), why=why)
        await self._lost(LOST)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        config = self._sip.config
        selector = self._sip.selector
        for node in selector.order(time.monotonic()):
            if self._closed:
                return None
            try:
                async with asyncio.timeout(config.connect_timeout):
                    opened = await asyncio.open_connection(
                        node.host,
                        node.mra_port,
                        ssl=self._sip.upstream_context,
                        server_hostname=node.host,
                        ssl_handshake_timeout=config.connect_timeout,
                    )
            except (OSError, TimeoutError) as exc:
                selector.failed(node, time.monotonic())
                self._log.warning("node unreachable", node=_where(node), why=_reason(exc))
                continue
            selector.succeeded(node)
            self.node = node
            self._log.info("flow opened", node=_where(node))
            return opened
        return None

    async def _lost(self, why: str) -> None:
        """No node for this flow (any more): 503s from the relay, then close
        (after a grace period for the next request when nothing was pending)."""
        out = self.relay.upstream_lost(why)
        await self._apply(out)
        if not self._closed:
            await asyncio.sleep(self._sip.config.unavailable_grace)
            self.close()


def _where(node: NodeAddress) -> str:
    return f"{node.url_host}:{node.mra_port}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


async def _finish(writer: asyncio.StreamWriter) -> None:
    """Wait for a closed connection to be gone; abort one whose TLS close hangs."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except (TimeoutError, OSError):
        writer.transport.abort()
