"""A lean TLS SIP client for the load generator (memory BIOs over plain TCP).

The benchmark measures the *server*; the client must be cheap so one machine
can drive it. Each device is one connection carrying one REGISTER at a time.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct


class TlsSipClient(asyncio.Protocol):
    """One device's connection: handshake, then request/response exchanges."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self._transport: asyncio.Transport | None = None
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter: asyncio.Future[bytes] | None = None
        self._buf = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._step_handshake()

    def _flush(self) -> None:
        if self._out.pending and self._transport is not None:
            self._transport.write(self._out.read())

    def _step_handshake(self) -> None:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as exc:
            self._flush()
            if not self._ready.done():
                self._ready.set_exception(exc)
            return
        self._flush()
        if not self._ready.done():
            self._ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._in.write(data)
        if not self._ready.done():
            self._step_handshake()
            if not self._ready.done():
                return
        try:
            while True:
                chunk = self._ssl.read(65536)
                if not chunk:
                    break
                self._buf += chunk
                if not self._in.pending and not self._ssl.pending():
                    break
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            self._fail(ConnectionError("tls error"))
            return
        end = self._buf.find(b"\r\n\r\n")
        if end >= 0 and self._waiter is not None and not self._waiter.done():
            message, self._buf = self._buf[: end + 4], self._buf[end + 4 :]
            self._waiter.set_result(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("connection lost"))

    def _fail(self, exc: Exception) -> None:
        if not self._ready.done():
            self._ready.set_exception(exc)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def ready(self) -> None:
        await self._ready

    async def exchange(self, request: bytes) -> bytes:
        """Send one request and wait for one response head (responses carry no body)."""
        self._waiter = asyncio.get_running_loop().create_future()
        self._ssl.write(request)
        self._flush()
        return await self._waiter

    def abort(self) -> None:
        """Close with RST (SO_LINGER 0) so a storm does not fill TIME_WAIT."""
        if self._transport is None:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transport.close()


async def connect(
    host: str, port: int, context: ssl.SSLContext, server_hostname: str
) -> TlsSipClient:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(
        lambda: TlsSipClient(context, server_hostname), host, port
    )
    await proto.ready()
    return proto


def status_of(response: bytes) -> int:
    return int(response[8:11])
