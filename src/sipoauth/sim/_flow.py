"""A device's SIP flow: one TLS connection to a registrar or an edge (RFC 5626 §3).

Unlike :class:`SipTlsClient` (which reads only while a test waits for a
response), a :class:`SipFlow` reads all the time in its own task, as a phone
does: responses complete the transaction waiting for them (matched by the
top Via branch, RFC 3261 §17.1.3), requests from the node (NOTIFY on reset)
are answered at once (NOTIFY and OPTIONS 200, anything else 501: no calls
here) and handed to ``on_request``, and keep-alive pongs
are counted (RFC 5626 §4.4.1). When the connection ends, ``closed`` is set
with the reason and every waiting transaction fails.

Keep-alives on the wire: the phone pings with CRLF CRLF and the node answers
with one CRLF. :class:`StreamFramer` skips a lone CRLF before a message, so
pongs are counted here, on data that arrives while nothing is buffered: each
pair of CRLFs there is a ping (answered), a single one a pong.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import ssl
from collections.abc import Callable
from typing import Final

from sipoauth.sip import (
    FramedMessage,
    FramingError,
    KeepAlivePing,
    Request,
    Response,
    SipError,
    StreamFramer,
    build_response,
    parse_message,
)

__all__ = ["FlowClosed", "SipFlow"]

PING: Final = b"\r\n\r\n"
PONG: Final = b"\r\n"
ANSWERED: Final = frozenset({"NOTIFY", "OPTIONS"})
"""Requests from the node a device answers 200 (others: 501)."""


class FlowClosed(ConnectionError):
    """The flow ended (or could not be opened); the message says why."""


class SipFlow:
    """An open TLS connection carrying SIP, with its reader task."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        remote: str,
        on_request: Callable[[Request], None] | None = None,
        on_change: Callable[[], None] | None = None,
        max_message_size: int = 65535,
    ) -> None:
        self.remote = remote
        """``host:port`` connected to."""
        sock = writer.get_extra_info("sockname")
        self.local = f"{sock[0]}:{sock[1]}" if isinstance(sock, tuple) else "0.0.0.0:0"
        """Our address on this connection (``ip:port``): the Contact and Via use it."""
        self.pongs = 0
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._on_change = on_change
        self._framer = StreamFramer(max_message_size)
        self._pending: dict[str, asyncio.Future[Response]] = {}
        self._pong = asyncio.Event()
        self._task = asyncio.create_task(self._read(), name=f"sip-flow {remote}")
        self._keepalive: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        timeout: float = 10.0,
        on_request: Callable[[Request], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> SipFlow:
        """Connect with TLS (certificate checked against ``context``, host name
        ``host``); FlowClosed when the node cannot be reached. ``on_request`` gets
        each request from the node (already answered 200); ``on_change`` is called
        when a pong arrives and when the flow closes."""
        remote = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host
                )
        except TimeoutError:
            raise FlowClosed(f"{remote}: no TLS connection within {timeout:g} s") from None
        except ssl.SSLCertVerificationError as exc:
            raise FlowClosed(f"{remote}: certificate not trusted ({exc.verify_message})") from None
        except (OSError, ssl.SSLError) as exc:
            raise FlowClosed(f"{remote}: {exc.strerror or exc}") from None
        return cls(reader, writer, remote=remote, on_request=on_request, on_change=on_change)

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set()

    async def transact(self, data: bytes, branch: str, timeout: float = 10.0) -> Response:
        """Send a request whose top Via has ``branch``; its final response.
        FlowClosed when the flow ends first; TimeoutError after ``timeout``."""
        if self.closed.is_set():
            raise FlowClosed(self.close_reason)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[branch] = future
        try:
            await self._send(data)
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._pending.pop(branch, None)

    async def send_ping(self) -> None:
        """Send a keep-alive ping (RFC 5626 §4.4.1); ``pongs`` counts the answers."""
        self._pong.clear()
        await self._send(PING)

    async def ping(self, timeout: float = 10.0) -> bool:
        """A keep-alive ping; True when the pong came within ``timeout`` (RFC 5626
        §4.4.1: otherwise the flow has failed)."""
        await self.send_ping()
        try:
            async with asyncio.timeout(timeout):
                await self._pong.wait()
        except TimeoutError:
            return False
        return True

    def start_keepalive(self, interval: float, pong_timeout: float) -> None:
        """Ping every ``interval`` seconds, jittered to 80-100 % (RFC 5626 §4.4.1);
        a ping unanswered for ``pong_timeout`` seconds ends the flow."""
        if self._keepalive is None and not self.closed.is_set():
            self._keepalive = asyncio.create_task(
                self._keepalives_loop(interval, pong_timeout), name=f"keep-alive {self.remote}"
            )

    async def _keepalives_loop(self, interval: float, pong_timeout: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(interval * random.uniform(0.8, 1.0))
            try:
                answered = await self.ping(pong_timeout)
            except FlowClosed:
                return
            if not answered:
                self._finish(f"{self.remote}: no keep-alive pong within {pong_timeout:g} s")

    async def _send(self, data: bytes) -> None:
        if self.closed.is_set():
            raise FlowClosed(self.close_reason)
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, ssl.SSLError) as exc:
            self._finish(f"{self.remote}: {exc.strerror or exc}")
            raise FlowClosed(self.close_reason) from None

    async def _read(self) -> None:
        reason = f"{self.remote} closed the connection"
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                if self._framer.idle:
                    data = await self._keepalives(data)
                self._framer.receive_data(data)
                failure = await self._drain_events()
                if failure:
                    reason = failure
                    break
        except (OSError, ssl.SSLError) as exc:
            reason = f"{self.remote}: {exc.strerror or exc}"
        except asyncio.CancelledError:
            reason = "closed"
        self._finish(reason)

    async def _keepalives(self, data: bytes) -> bytes:
        """Consume leading CRLFs between messages: pairs are pings, one is a pong."""
        count = 0
        while data.startswith(PONG):
            data = data[2:]
            count += 1
        for _ in range(count // 2):
            await self._send(PONG)
        if count % 2:
            self.pongs += 1
            self._pong.set()
            if self._on_change is not None:
                self._on_change()
        return data

    async def _drain_events(self) -> str:
        """Handle every complete event; a reason when the flow must end."""
        while True:
            event = self._framer.next_event()
            if event is None:
                return ""
            if isinstance(event, KeepAlivePing):
                await self._send(PONG)
            elif isinstance(event, FramingError):
                return f"{self.remote}: bad framing ({event.status} {event.reason})"
            elif isinstance(event, FramedMessage):
                await self._message(event.data)

    async def _message(self, data: bytes) -> None:
        try:
            message = parse_message(data)
        except SipError:
            return  # nothing we can answer reliably; the peer's problem
        if isinstance(message, Response):
            try:
                branch = message.top_via.branch or ""
            except SipError:
                return
            future = self._pending.get(branch)
            if future is not None and not future.done() and message.status >= 200:
                future.set_result(message)
            return
        method = message.method.upper()
        if method == "ACK":
            return
        # Answer first (the node's transaction needs it), then let the device act.
        # A simulated device takes no calls: other requests are not implemented.
        status = 200 if method in ANSWERED else 501
        await self._send(build_response(message, status, to_tag=secrets.token_hex(4)))
        if status == 200 and self._on_request is not None:
            self._on_request(message)

    def _finish(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(FlowClosed(reason))
        self._writer.close()
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        if self._on_change is not None:
            self._on_change()

    async def close(self) -> None:
        """Close the connection (TLS close_notify) and stop reading."""
        self._finish("closed")
        for task in (self._task, self._keepalive):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
