"""A small HTTP/1.1 client for the simulators: h11 over asyncio streams.

The simulators ship with the product (B3), so they use what the node already
depends on (h11 comes with uvicorn) rather than a test-only client library.
One :class:`HttpClient` keeps idle keep-alive connections per origin (scheme,
host, port and TLS context), so a load run of hundreds of phones makes a
handful of HTTPS handshakes to the node's web and TFTP ports, not one per
request. What a phone trusts is the ``ssl.SSLContext`` it passes with each
request (built from its phone-edge-trust bundle).

Third-party errors (OSError, ssl.SSLError, h11's) are translated here into
:class:`HttpError`; a response with any status is a response, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode, urlsplit

import h11

__all__ = ["HttpClient", "HttpError", "HttpResponse"]

USER_AGENT: Final = "sipoauth-sim/0.1"
READ_CHUNK: Final = 65536

_Origin = tuple[str, str, int, int]
"""(scheme, host, port, id of the TLS context or 0)."""


class HttpError(Exception):
    """The request could not be completed: connection, TLS, timeout, or a
    malformed or oversized answer."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One complete response."""

    status: int
    headers: tuple[tuple[str, str], ...]
    """Names lowercased, in the order received."""
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def json(self) -> dict[str, object]:
        """The body as a JSON object ({} when it is not one)."""
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}


class _Connection:
    __slots__ = ("h11", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)

    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def close(self) -> None:
        self.writer.close()


class _Retry(Exception):
    """A kept-alive connection was closed by the server before it answered."""


class HttpClient:
    """Keep-alive HTTP/1.1 client (HTTPS with the context given per request)."""

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        max_body: int = 1 << 20,
        max_per_origin: int = 32,
    ) -> None:
        self.timeout = timeout
        """Seconds for a whole request (connect, send, read)."""
        self.max_body = max_body
        """Largest response body accepted (bytes)."""
        self.max_per_origin = max_per_origin
        """Connections open at once to one origin (further requests wait)."""
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._limits: dict[_Origin, asyncio.Semaphore] = {}
        self._contexts: dict[int, ssl.SSLContext] = {}  # keeps ids meaningful
        self._closed = False

    async def get(
        self,
        url: str,
        *,
        context: ssl.SSLContext | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> HttpResponse:
        return await self.request("GET", url, context=context, headers=headers)

    async def post_form(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        context: ssl.SSLContext | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> HttpResponse:
        """POST ``application/x-www-form-urlencoded`` (what OAuth endpoints take)."""
        body = urlencode(form).encode()
        typed = [("Content-Type", "application/x-www-form-urlencoded"), *headers]
        return await self.request("POST", url, context=context, headers=typed, body=body)

    async def request(
        self,
        method: str,
        url: str,
        *,
        context: ssl.SSLContext | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> HttpResponse:
        """One request; HttpError when no complete response could be had."""
        if self._closed:
            raise HttpError("the HTTP client is closed")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {url}")
        if (parts.scheme == "https") != (context is not None):
            raise HttpError(f"{url}: a TLS context is needed for https and only for https")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin: _Origin = (parts.scheme, host, port, id(context) if context else 0)
        if context is not None:
            self._contexts[id(context)] = context
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        all_headers = [
            ("Host", parts.netloc),
            ("User-Agent", USER_AGENT),
            ("Accept-Encoding", "identity"),
            *headers,
        ]
        if body or method in ("POST", "PUT"):
            all_headers.append(("Content-Length", str(len(body))))
        event = h11.Request(method=method, target=target, headers=all_headers)
        limit = self._limits.setdefault(origin, asyncio.Semaphore(self.max_per_origin))
        # The timeout counts from when a connection is ours: waiting for one of the
        # origin's connections (a load run queues here) is not the server's delay.
        try:
            async with limit, asyncio.timeout(self.timeout):
                for _ in range(2):
                    conn, reused = self._take(origin)
                    if conn is None:
                        conn = await self._connect(host, port, context)
                    try:
                        return await self._exchange(conn, origin, event, body, url, reused)
                    except _Retry:
                        continue
                raise HttpError(f"{url}: the server closed the connection twice")
        except TimeoutError:
            raise HttpError(f"{url}: no answer within {self.timeout:g} s") from None

    def _take(self, origin: _Origin) -> tuple[_Connection | None, bool]:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn, True
            conn.close()
        return None, False

    async def _connect(self, host: str, port: int, context: ssl.SSLContext | None) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=host if context else None
            )
        except ssl.SSLCertVerificationError as exc:
            raise HttpError(
                f"{host}:{port}: certificate not trusted ({exc.verify_message})"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"{host}:{port}: {exc.strerror or exc}") from None
        return _Connection(reader, writer)

    async def _exchange(
        self,
        conn: _Connection,
        origin: _Origin,
        request: h11.Request,
        body: bytes,
        url: str,
        reused: bool,
    ) -> HttpResponse:
        answered = False
        try:
            data = conn.h11.send(request) or b""
            if body:
                data += conn.h11.send(h11.Data(data=body)) or b""
            data += conn.h11.send(h11.EndOfMessage()) or b""
            conn.writer.write(data)
            await conn.writer.drain()
            status = 0
            headers: tuple[tuple[str, str], ...] = ()
            chunks: list[bytes] = []
            size = 0
            while True:
                event = conn.h11.next_event()
                if event is h11.NEED_DATA:
                    chunk = await conn.reader.read(READ_CHUNK)
                    conn.h11.receive_data(chunk)
                    if not chunk and not answered and reused:
                        raise _Retry
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    answered = True
                    status = event.status_code
                    headers = tuple(
                        (name.decode("latin-1").lower(), value.decode("latin-1"))
                        for name, value in event.headers
                    )
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > self.max_body:
                        raise HttpError(f"{url}: the answer is over {self.max_body} bytes")
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    if not answered and reused:
                        raise _Retry
                    raise HttpError(f"{url}: the server closed the connection")
        except (_Retry, HttpError):
            conn.close()
            raise
        except h11.RemoteProtocolError as exc:
            conn.close()
            if not answered and reused:
                raise _Retry from None
            raise HttpError(f"{url}: malformed answer ({exc})") from None
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            if not answered and reused:
                raise _Retry from None
            raise HttpError(f"{url}: {exc.strerror or exc}") from None
        except BaseException:  # cancelled or timed out mid-exchange: never reuse it
            conn.close()
            raise
        if conn.reusable():
            conn.h11.start_next_cycle()
            self._idle.setdefault(origin, []).append(conn)
        else:
            conn.close()
        return HttpResponse(status, headers, b"".join(chunks), url)

    async def aclose(self) -> None:
        """Close every idle connection; the client cannot be used after."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await conn.writer.wait_closed()
        self._contexts.clear()
