"""HTTPS listeners of the web service (Cisco Tomcat, 8443), uvicorn in the node's loop.

uvicorn's HTTP/1.1 protocol (h11) serves the ASGI app; the node creates the
listening sockets itself (so the service can be stopped and started without
touching the process) and subclasses the protocol for one thing: when a TLS
connection is made, the client certificate, if any, is classified once —
an authenticated edge (mutual TLS, chains to tomcat-trust and names a
configured edge entry: the request came through Mobile and Remote Access,
R12) or a phone's manufacturer certificate (chains to callmanager-trust:
"Implicit" device tokens) — and the result is put in the connection's ASGI
``state`` as a :class:`sipoauth.oauth.Peer`. A request header can never set it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any, Final

import structlog
import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from sipoauth.oauth import Peer
from sipoauth.pki import (
    ChainVerificationError,
    EdgeEntry,
    load_certs_pem,
    match_edge,
    peer_names,
    verify_chain,
)

__all__ = ["HttpListener", "PeerClassifier", "WebListener", "peer_chain", "web_ssl_context"]

log = structlog.get_logger("sipoauth.web")

# A phone's name inside a certificate name ("CP-8851-SEP001122334455"): exactly
# 12 hex digits after SEP, not glued to other letters or digits on either side.
_PHONE_NAME: Final = re.compile(r"(?<![0-9A-Z])SEP[0-9A-F]{12}(?![0-9A-Z])")
MAX_INTERMEDIATES: Final = 8
"""Certificates after the client's own that the classifier looks at (a real
chain has one or two; this bounds the path-building work per connection)."""


@dataclass(frozen=True, slots=True)
class PeerClassifier:
    """What a client certificate on the web port means (node configuration)."""

    edges: Sequence[EdgeEntry]
    tomcat_trust: Sequence[x509.Certificate]
    callmanager_trust: Sequence[x509.Certificate]

    @classmethod
    def from_pems(
        cls,
        edges: Sequence[EdgeEntry],
        tomcat_trust: Sequence[bytes],
        callmanager_trust: Sequence[bytes],
    ) -> PeerClassifier:
        return cls(
            tuple(edges),
            tuple(c for pem in tomcat_trust for c in load_certs_pem(pem)),
            tuple(c for pem in callmanager_trust for c in load_certs_pem(pem)),
        )

    def classify(
        self,
        der: bytes | None,
        address: str,
        now: datetime,
        intermediates: Sequence[bytes] = (),
    ) -> Peer:
        """The peer of a connection whose client sent certificate ``der`` (and the
        ``intermediates`` after it: edge and manufacturer certificates are commonly
        issued by an intermediate CA under the root in the trust store)."""
        if not der:
            return Peer(address)
        # The certificate goes along whatever it is classified as (the edge push
        # endpoint checks it against tomcat-trust itself).
        sent = Peer(address, client_cert=der, client_chain=tuple(intermediates))
        names = peer_names(der)
        edge = match_edge(names, self.edges)
        if edge is not None and self.tomcat_trust:
            with contextlib.suppress(ChainVerificationError):
                verify_chain(der, intermediates, self.tomcat_trust, now)
                return dataclasses.replace(sent, via_edge=edge.address)
        if self.callmanager_trust:
            with contextlib.suppress(ChainVerificationError):
                verify_chain(der, intermediates, self.callmanager_trust, now)
                phones = {m.group(0) for n in names for m in _PHONE_NAME.finditer(n.upper())}
                if len(phones) == 1:  # a certificate naming two phones is neither
                    return dataclasses.replace(sent, mic_device=phones.pop())
        return sent


def web_ssl_context(base: ssl.SSLContext, trust_pems: Sequence[bytes]) -> ssl.SSLContext:
    """The web port asks for (never requires) a client certificate when there is
    anything to trust; one that does not chain to the trust stores fails the
    handshake ("unknown CA"), as on the reference."""
    bundle = b"\n".join(p.strip() for p in trust_pems if p.strip())
    if bundle:
        base.load_verify_locations(cadata=bundle.decode("ascii"))
        base.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        base.verify_mode = ssl.CERT_OPTIONAL
    return base


def peer_chain(
    sslobj: ssl.SSLObject, limit: int = MAX_INTERMEDIATES
) -> tuple[bytes | None, tuple[bytes, ...]]:
    """The client's certificate and the certificates it sent after it (DER).

    The handshake verified that chain against the union of the trust stores; the
    classifier verifies it again against one store, and needs the intermediates
    for that. Python 3.13 has ``SSLObject.get_unverified_chain()`` (DER bytes);
    3.11 and 3.12 have it on the private ``_sslobj`` (certificate objects).
    """
    der = sslobj.getpeercert(binary_form=True)
    if not der:
        return None, ()
    getter = getattr(sslobj, "get_unverified_chain", None) or getattr(
        getattr(sslobj, "_sslobj", None), "get_unverified_chain", None
    )
    if getter is None:
        return der, ()
    chain: list[bytes] = []
    for cert in getter() or ():
        if isinstance(cert, bytes):
            chain.append(cert)
        else:
            chain.append(ssl.PEM_cert_to_DER_cert(cert.public_bytes()))
    return der, tuple(c for c in chain if c != der)[:limit]


class _CoalescingTransport:
    """The connection's transport, with writes made in one turn of the event loop
    sent as one: uvicorn writes a response's head and body separately, which on
    TLS costs two records and two system calls (measured: ~20 % of a small
    response's CPU). Everything else is the real transport's."""

    __slots__ = ("_buffer", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._buffer:
            self._loop.call_soon(self._flush)
        self._buffer.append(data)

    def _flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._buffer.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._buffer))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HttpProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol writing through :class:`_CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = _CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(coalescing)  # type: ignore[arg-type]


class _Protocol(_HttpProtocol):
    """uvicorn's HTTP/1.1 protocol, with the connection's TLS peer classified.

    The client certificate is read once, when the connection is made, and
    classified with the node's classifier in force; when the node replaces
    the classifier (edge entries or trust stores changed), the next request
    on the connection is judged again — a keep-alive connection never carries
    a judgement made under the old configuration.
    """

    def __init__(self, *args: Any, classifier: Callable[[], PeerClassifier], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._classifier = classifier
        self._judged_by: PeerClassifier | None = None
        self._certificate: tuple[bytes | None, tuple[bytes, ...]] = (None, ())

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sslobj = transport.get_extra_info("ssl_object")
        try:
            self._certificate = peer_chain(sslobj) if sslobj is not None else (None, ())
        except Exception:  # a strange certificate must not break the connection
            log.exception("client certificate could not be read", remote=self._address())
        self._classify()

    def data_received(self, data: bytes) -> None:
        if self._certificate[0] is not None and self._classifier() is not self._judged_by:
            self._classify()
        super().data_received(data)

    def _address(self) -> str:
        return self.client[0] if self.client else "unknown"

    def _classify(self) -> None:
        classifier = self._classifier()
        der, intermediates = self._certificate
        try:
            peer = classifier.classify(der, self._address(), datetime.now(UTC), intermediates)
        except Exception:  # a strange certificate must not break the connection
            log.exception("client certificate could not be classified", remote=self._address())
            peer = Peer(self._address())
        self._judged_by = classifier
        self.app_state = {**self.app_state, "peer": peer}


class HttpListener:
    """One HTTPS listener (plain HTTP without ``ssl_context``) serving an ASGI
    app with uvicorn's h11 protocol in the running loop; start/stop at will.

    The socket is the caller's, not a uvicorn ``Server``'s, so nothing takes over
    signal handling. With ``date_header`` a ``Date`` is added to every answer
    (refreshed each second); a proxy whose answers carry their origin's passes
    ``False``.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        keep_alive: float = 30.0,
        handshake_timeout: float | None = None,
        date_header: bool = True,
    ) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=int(keep_alive),
        )
        self._config.load()
        self._ssl = ssl_context
        self._handshake_timeout = handshake_timeout if ssl_context is not None else None
        self._date_header = date_header
        self._state = ServerState()
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    def _protocol(self) -> asyncio.Protocol:
        return _HttpProtocol(config=self._config, server_state=self._state, app_state={})

    async def start(self) -> int:
        """Listen; returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            host=self.host,
            port=self.port,
            ssl=self._ssl,
            ssl_handshake_timeout=self._handshake_timeout,
            backlog=self._config.backlog,
        )
        if self._date_header:
            self._tick()
            self._ticker = asyncio.create_task(self._date_loop(), name="web-date")
        port: int = self._server.sockets[0].getsockname()[1]
        self.port = port
        return port

    def _tick(self) -> None:
        date = formatdate(usegmt=True).encode("latin-1")
        self._state.default_headers = [(b"date", date)]

    async def _date_loop(self) -> None:
        while True:
            await asyncio.sleep(1)
            self._tick()

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._state.connections):
            connection.shutdown()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None


class WebListener(HttpListener):
    """The node's HTTPS listener: :class:`HttpListener` whose connections carry
    their TLS peer, classified by ``classifier`` (edge, MIC or neither)."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        classifier: Callable[[], PeerClassifier],
        keep_alive: float = 30.0,
    ) -> None:
        super().__init__(app, host=host, port=port, ssl_context=ssl_context, keep_alive=keep_alive)
        self._classifier = classifier

    def _protocol(self) -> asyncio.Protocol:
        return _Protocol(
            config=self._config,
            server_state=self._state,
            app_state={},
            classifier=self._classifier,
        )
