"""The SIP listener writes the answers of one event-loop turn after that turn's reads.

`SipStreamProtocol` runs TLS over memory BIOs; its output is handed to the
transport by `SipEndpoint.flush_soon` once every connection readable in the
turn has been read and answered. These tests drive real TLS (trustme
certificates, a client `SSLObject`) and the real SIP core through a transport
that records what the protocol writes.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from typing import Any

import pytest
import trustme

from sipoauth.node import FlowTable
from sipoauth.node._sip import ListenerSpec, SipEndpoint, SipStreamProtocol
from sipoauth.oauth import AccessTokenVerifier, EncryptionKey, KeyRing, SigningKey
from sipoauth.registrar import DirectorySnapshot, Registrar, RegistrarSettings, SipCore
from sipoauth.sip import ServerTransactions


class RecordingTransport(asyncio.Transport):
    """The socket side of one connection: records writes (into a log shared by all)."""

    def __init__(self, name: str, log: list[tuple[str, bytes]]) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.closing = False
        self.aborted = False
        self.fail_writes = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.fail_writes:
            raise RuntimeError("write failed")
        self.log.append((self.name, bytes(data)))

    def written(self) -> bytes:
        return b"".join(data for name, data in self.log if name == self.name)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Peer:
    """A TLS client over memory BIOs, connected to one server protocol."""

    def __init__(self, proto: SipStreamProtocol, transport: RecordingTransport, ctx) -> None:
        self.proto = proto
        self.transport = transport
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.seen = 0  # transport bytes already fed to the client

    def take_written(self) -> None:
        data = self.transport.written()
        self.incoming.write(data[self.seen :])
        self.seen = len(data)

    async def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                self.proto.data_received(self.outgoing.read())
                await asyncio.sleep(0)  # the turn ends: the server's flight is written
                self.take_written()

    def send(self, request: bytes) -> None:
        self.tls.write(request)
        self.proto.data_received(self.outgoing.read())

    def read(self) -> bytes:
        self.take_written()
        out = b""
        while True:
            try:
                out += self.tls.read(65536)
            except ssl.SSLWantReadError:
                return out


def options(n: int) -> bytes:
    return (
        f"OPTIONS sip:localhost SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bK-flush-{n}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:probe@localhost>;tag=f{n}\r\n"
        f"To: <sip:localhost>\r\n"
        f"Call-ID: flush-{n}\r\n"
        f"CSeq: 1 OPTIONS\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client)
    return server, client


@pytest.fixture(scope="module")
def core() -> SipCore:
    keys = KeyRing([SigningKey.generate()], [EncryptionKey.generate()])
    verifier = AccessTokenVerifier(keys, issuer="https://localhost:8443", audience="urn:test")
    tags = itertools.count()
    registrar = Registrar(
        RegistrarSettings(),
        DirectorySnapshot.build(oauth_mode=True, devices=[]),
        verifier,
        tag_factory=lambda: f"t{next(tags)}",
    )
    return SipCore(registrar, ServerTransactions())


async def connected(core: SipCore, tls, count: int) -> tuple[list[Peer], list[tuple[str, bytes]]]:
    server_ctx, client_ctx = tls
    endpoint = SipEndpoint(
        core,
        FlowTable(),
        node_name="node1",
        edges=list,
        on_result=lambda result: None,
        max_message_size=65535,
        handshake_timeout=10.0,
    )
    spec = ListenerSpec("SIP Phone OAuth Port", "127.0.0.1", 0, server_ctx, via_edge=False)
    log: list[tuple[str, bytes]] = []
    peers = []
    for n in range(count):
        proto = SipStreamProtocol(endpoint, spec)
        transport = RecordingTransport(f"c{n}", log)
        proto.connection_made(transport)
        peer = Peer(proto, transport, client_ctx)
        await peer.handshake()
        peers.append(peer)
    return peers, log


async def test_answers_of_one_turn_are_written_after_its_reads(core, tls) -> None:
    """Requests read in one turn are all answered before any answer is written; then
    every answer is written, in the order the requests were read."""
    peers, log = await connected(core, tls, 3)
    await asyncio.sleep(0)  # the handshakes' last flight (session tickets, if any)
    before = len(log)
    for n, peer in enumerate(reversed(peers)):
        peer.send(options(n))
    assert len(log) == before  # still the same turn: nothing written yet
    await asyncio.sleep(0)
    assert [name for name, _ in log[before:]] == ["c2", "c1", "c0"]  # one write each, in order
    for n, peer in enumerate(reversed(peers)):
        answer = peer.read()
        assert answer.startswith(b"SIP/2.0 200 OK\r\n")
        assert f"Call-ID: flush-{n}\r\n".encode() in answer


async def test_connection_closed_before_the_write_gets_nothing_others_do(core, tls) -> None:
    peers, _ = await connected(core, tls, 2)
    await asyncio.sleep(0)
    gone, alive = peers
    gone.send(options(1))
    alive.send(options(2))
    gone.proto.connection_lost(None)  # the peer went away in the same turn
    await asyncio.sleep(0)
    assert alive.read().startswith(b"SIP/2.0 200 OK\r\n")
    assert gone.read() == b""


async def test_failing_write_aborts_only_its_connection(core, tls) -> None:
    peers, _ = await connected(core, tls, 2)
    await asyncio.sleep(0)
    broken, alive = peers
    broken.transport.fail_writes = True
    broken.send(options(1))
    alive.send(options(2))
    await asyncio.sleep(0)
    assert broken.transport.aborted
    assert not alive.transport.aborted
    assert alive.read().startswith(b"SIP/2.0 200 OK\r\n")
