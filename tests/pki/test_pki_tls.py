"""TLS contexts: server-only, mutual TLS against the tomcat-trust store.

Handshakes run over in-memory BIOs (no sockets); one test uses a real
loopback connection to show the contexts work with asyncio streams.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from pki_support import CA

from sipoauth.pki import (
    EdgeEntry,
    NodePki,
    PkiError,
    cert_to_pem,
    client_ssl_context,
    issue_client_certificate,
    key_to_pem,
    match_edge,
    mtls_server_ssl_context,
    peer_names,
    server_ssl_context,
)

EDGE = EdgeEntry(
    address="192.0.2.7", description="exp-c", x509_names=("expc.example.com",), domain=None
)


@pytest.fixture
def node(tmp_path: Path) -> NodePki:
    pki, _ = NodePki.load_or_create(tmp_path / "pki", hostname="cucm-pub", now=datetime.now(UTC))
    return pki


def edge_files(tmp_path: Path, ca: CA, name: str = "expc.example.com") -> tuple[Path, Path]:
    cert, key = issue_client_certificate(*ca, common_name=name, now=datetime.now(UTC))
    chain, key_path = tmp_path / "edge.pem", tmp_path / "edge.key"
    chain.write_bytes(cert_to_pem(cert) + cert_to_pem(ca[0]))
    key_path.write_bytes(key_to_pem(key))
    return chain, key_path


def handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a handshake in memory, then one application record client -> server
    (with TLS 1.3 the server judges the client certificate after the client
    considers the handshake done)."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="cucm-pub")
    done: set[int] = set()
    for _ in range(10):
        for obj in (client, server):
            if id(obj) not in done:
                try:
                    obj.do_handshake()
                    done.add(id(obj))
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        if len(done) == 2:
            break
    client.write(b"REGISTER")
    s_in.write(c_out.read())
    assert server.read(64) == b"REGISTER"
    return server, client


def test_server_only(node: NodePki) -> None:
    """5090 / 8443: server authentication only; TLS >= 1.2."""
    server_ctx = server_ssl_context(node.web_cert_path, node.web_key_path)
    assert server_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server_ctx.verify_mode == ssl.CERT_NONE
    assert server_ctx.options & ssl.OP_NO_COMPRESSION
    client_ctx = client_ssl_context([node.ca_cert_pem])
    server, client = handshake(server_ctx, client_ctx)
    assert server.getpeercert() is None
    assert client.version() in {"TLSv1.2", "TLSv1.3"}


def test_mtls_trusted_client_accepted(tmp_path: Path, node: NodePki, live_ca: CA) -> None:
    server_ctx = mtls_server_ssl_context(
        node.web_cert_path, node.web_key_path, [cert_to_pem(live_ca[0])]
    )
    client_ctx = client_ssl_context([node.ca_cert_pem], *edge_files(tmp_path, live_ca))
    server, _ = handshake(server_ctx, client_ctx)
    der = server.getpeercert(binary_form=True)
    assert der is not None
    assert match_edge(peer_names(der), [EDGE]) is EDGE


def test_mtls_trusting_the_edge_certificate_itself(
    tmp_path: Path, node: NodePki, live_ca: CA
) -> None:
    """The reference lets the admin upload "the edge certificate (or its CA)"."""
    chain, key = edge_files(tmp_path, live_ca)
    leaf_only = chain.read_bytes().split(b"-----END CERTIFICATE-----")[0]
    leaf_only += b"-----END CERTIFICATE-----\n"
    server_ctx = mtls_server_ssl_context(node.web_cert_path, node.web_key_path, [leaf_only])
    handshake(server_ctx, client_ssl_context([node.ca_cert_pem], chain, key))


def test_mtls_untrusted_ca_refused(tmp_path: Path, node: NodePki, live_ca: CA) -> None:
    foreign = trustme.CA()
    leaf = foreign.issue_cert("expc.example.com")
    cert_path, key_path = tmp_path / "f.pem", tmp_path / "f.key"
    cert_path.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    key_path.write_bytes(leaf.private_key_pem.bytes())
    server_ctx = mtls_server_ssl_context(
        node.web_cert_path, node.web_key_path, [cert_to_pem(live_ca[0])]
    )
    client_ctx = client_ssl_context([node.ca_cert_pem], cert_path, key_path)
    with pytest.raises(ssl.SSLError, match=r"CERTIFICATE_VERIFY_FAILED"):
        handshake(server_ctx, client_ctx)


def test_mtls_no_client_certificate_refused(node: NodePki, live_ca: CA) -> None:
    server_ctx = mtls_server_ssl_context(
        node.web_cert_path, node.web_key_path, [cert_to_pem(live_ca[0])]
    )
    with pytest.raises(ssl.SSLError, match=r"PEER_DID_NOT_RETURN_A_CERTIFICATE"):
        handshake(server_ctx, client_ssl_context([node.ca_cert_pem]))


def test_mtls_empty_trust_store_refuses_everyone(
    tmp_path: Path, node: NodePki, live_ca: CA
) -> None:
    server_ctx = mtls_server_ssl_context(node.web_cert_path, node.web_key_path, [])
    client_ctx = client_ssl_context([node.ca_cert_pem], *edge_files(tmp_path, live_ca))
    with pytest.raises(ssl.SSLError):
        handshake(server_ctx, client_ctx)


def test_client_refuses_unknown_server(node: NodePki, live_ca: CA) -> None:
    server_ctx = server_ssl_context(node.web_cert_path, node.web_key_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server_ctx, client_ssl_context([cert_to_pem(live_ca[0])]))


def test_bad_inputs_are_pki_errors(tmp_path: Path, node: NodePki) -> None:
    with pytest.raises(PkiError, match="certificate chain"):
        server_ssl_context(tmp_path / "missing.pem", node.web_key_path)
    with pytest.raises(PkiError, match="trust store"):
        mtls_server_ssl_context(node.web_cert_path, node.web_key_path, [b"not a certificate"])


async def test_loopback_mtls_handshake(tmp_path: Path, node: NodePki, live_ca: CA) -> None:
    """The one socket test: a real TLS connection over 127.0.0.1."""
    server_ctx = mtls_server_ssl_context(
        node.web_cert_path, node.web_key_path, [cert_to_pem(live_ca[0])]
    )
    seen: list[EdgeEntry | None] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        seen.append(match_edge(peer_names(der), [EDGE]))
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client_ctx = client_ssl_context([node.ca_cert_pem], *edge_files(tmp_path, live_ca))
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname="cucm-pub"
        )
        writer.write(b"OPTIONS\n")
        assert await reader.readline() == b"OPTIONS\n"
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    assert seen == [EDGE]
