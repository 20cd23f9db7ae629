"""``ssl.SSLContext`` factories for the node's listeners and for test clients.

All listeners present the web ("tomcat") certificate chain (DESIGN.md). The
Mobile and Remote Access port (5091) and edge-originated HTTPS additionally
require a client certificate chaining to the tomcat-trust store; matching its
names against the edge entries happens after the handshake
(:func:`sipoauth.pki.match_edge`).

Per-connection memory, measured here (CPython 3.11.7, OpenSSL 3.0, ECDSA P-256
web certificate, idle connections after one application record; heap in use
per server-side ``SSLObject`` read with glibc ``mallinfo2``, 2 000 connections):

* ``SSL_MODE_RELEASE_BUFFERS`` is already set by CPython on every context
  (``SSL_CTX_get_mode`` read back 0x14 = RELEASE_BUFFERS | AUTO_RETRY). Its
  effect: 16.8 KiB per idle TLS connection with it, 49.4 KiB with it cleared
  (mutual TLS: 27.7 vs 60.2 KiB; the extra ~11 KiB is the peer's certificate
  kept for ``getpeercert``). Nothing to set.
* ``OP_NO_COMPRESSION`` is already in CPython's default options; set again
  explicitly because compression is also a security matter (CRIME).
* Session tickets stay on (TLS 1.3 tickets are stateless: 16.8 KiB either
  way), but servers send one instead of OpenSSL's default two: a phone
  reconnects one connection at a time, and each ticket costs the server an
  encryption per handshake (measured: ~257 µs per server handshake with two
  tickets, ~217 µs with none, on this machine's OpenSSL 3.0).
* Not ours but worth knowing for ``node/``: asyncio's own TLS transport in
  3.11 allocates a 256 KiB read buffer per connection
  (``asyncio.sslproto.SSLProtocol.max_size``), which dominates: 282 KiB of
  RSS per idle TLS connection through ``asyncio.start_server(ssl=...)``
  against 42 KiB with ``max_size`` at 16.25 KiB.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from ._errors import PkiError

__all__ = ["client_ssl_context", "mtls_server_ssl_context", "server_ssl_context"]

SESSION_TICKETS = 1
"""TLS 1.3 session tickets a server sends after a full handshake (OpenSSL: 2)."""


def _harden(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION


def _load_chain(ctx: ssl.SSLContext, cert_chain_path: Path, key_path: Path) -> None:
    try:
        ctx.load_cert_chain(certfile=cert_chain_path, keyfile=key_path)
    except (ssl.SSLError, OSError) as exc:
        raise PkiError(f"cannot load certificate chain {cert_chain_path.name}") from exc


def _trust(ctx: ssl.SSLContext, trust_pems: Sequence[bytes]) -> None:
    bundle = b"\n".join(pem.strip() for pem in trust_pems if pem.strip())
    if not bundle:
        return  # an empty store: every peer certificate is refused
    try:
        ctx.load_verify_locations(cadata=bundle.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        raise PkiError("trust store contains an unusable certificate") from exc
    # An uploaded edge certificate or intermediate CA is itself a trust anchor
    # (REFERENCE-BEHAVIOUR "Edge": "the edge certificate (or its CA) must be
    # uploaded"), so a chain may end at it rather than at a self-signed root.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN


def server_ssl_context(cert_chain_path: Path, key_path: Path) -> ssl.SSLContext:
    """TLS ≥ 1.2 server presenting the web certificate; no client certificate
    (SIP Phone OAuth port 5090, HTTPS 8443 and 6971)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(ctx)
    ctx.num_tickets = SESSION_TICKETS
    _load_chain(ctx, Path(cert_chain_path), Path(key_path))
    return ctx


def mtls_server_ssl_context(
    cert_chain_path: Path, key_path: Path, trust_pems: Sequence[bytes]
) -> ssl.SSLContext:
    """TLS ≥ 1.2 server requiring a client certificate that chains to
    ``trust_pems`` (the tomcat-trust store) — the Mobile and Remote Access port."""
    ctx = server_ssl_context(cert_chain_path, key_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    _trust(ctx, trust_pems)
    return ctx


def client_ssl_context(
    trust_pems: Sequence[bytes],
    cert_chain_path: Path | None = None,
    key_path: Path | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """TLS ≥ 1.2 client trusting ``trust_pems``, optionally presenting a
    certificate (the edge simulator, tests)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(ctx)
    ctx.check_hostname = check_hostname
    _trust(ctx, trust_pems)
    if cert_chain_path is not None:
        _load_chain(ctx, Path(cert_chain_path), Path(key_path or cert_chain_path))
    return ctx
