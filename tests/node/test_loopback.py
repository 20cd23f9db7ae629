"""The node on loopback with real certificates (R5, R6, R11; RFC 8898; RFC 3327).

Every test talks TLS to a running node's SIP Phone OAuth Port (5090 role) or
SIP MRA Port (5091 role, mutual TLS), exactly as phones and the edge do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from oauth_forge import b64url, jwe, jws, open_jwe

from sipoauth.node import Node
from sipoauth.oauth import EncryptionKey, KeyRing, SigningKey
from sipoauth.pki import client_ssl_context
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request

from ._support import EDGE_NAME, PHONE, PHONE2, Prepared, port_of

PATH = "<sip:expc.example.com:5061;transport=tls;lr>"


def phone(device: str = PHONE, line: str = "1001") -> PhoneIdentity:
    return PhoneIdentity(device=device, line=line, domain="localhost")


async def connect(prepared: Prepared, node: Node, *, cert=None, mra: bool = False):
    ctx = client_ssl_context(
        [prepared.ca_pem],
        cert.chain if cert else None,
        cert.key if cert else None,
    )
    port = port_of(node, "mTLS" if mra else "TLS")
    return await SipTlsClient.connect("127.0.0.1", port, ctx, server_hostname="localhost")


async def register(
    client: SipTlsClient,
    ident: PhoneIdentity,
    token: str | None,
    *,
    cseq: int = 1,
    call_id: str | None = None,
    **kw,
):
    request = register_request(
        ident,
        call_id=call_id or f"{uuid.uuid4()}",
        cseq=cseq,
        branch=client.next_branch(),
        token=token,
        **kw,
    )
    return await client.request(request)


# -- SIP Phone OAuth Port: TLS ---------------------------------------------------------


async def test_r11_register_with_minted_token(prepared: Prepared, node: Node) -> None:
    """R11: a valid token registers over TLS; the binding is mirrored to the store."""
    client = await connect(prepared, node)
    try:
        first = await register(client, phone(), None, cseq=1, call_id="c1")
        assert first.status == 401  # RFC 8898 §2.3 challenge, then the token
        resp = await register(client, phone(), prepared.mint(), cseq=2, call_id="c1")
        assert resp.status == 200
        assert resp.get("expires") == "120"
        await node.flush()
        rows = await node.store.registrations.list(device_name=PHONE)
        assert [r.aor for r in rows] == ["sip:1001@localhost"]
        assert rows[0].node_name == "node1"
    finally:
        await client.close()


async def test_rfc8898_challenge_without_token(prepared: Prepared, node: Node) -> None:
    client = await connect(prepared, node)
    try:
        resp = await register(client, phone(), None)
        assert resp.status == 401
        challenge = resp.get("www-authenticate")
        assert challenge.startswith('Bearer realm="ccmsipline"')
        assert 'authz_server="https://localhost:8443"' in challenge
    finally:
        await client.close()


async def test_rfc3261_s19_3_response_to_tags_are_random(prepared: Prepared, node: Node) -> None:
    """RFC 3261 §19.3: the To tag of every response the node makes is globally unique
    and cryptographically random (64 bits here), not a per-node counter."""
    client = await connect(prepared, node)
    try:
        tags = []
        for cseq in (1, 2):
            resp = await register(client, phone(), prepared.mint(), cseq=cseq, call_id="t1")
            assert resp.status == 200
            tag = re.search(r";tag=([^;>\s]+)", resp.get("to"))
            assert tag is not None
            tags.append(tag.group(1))
        assert all(re.fullmatch(r"[0-9a-f]{16}", tag) for tag in tags)
        assert tags[0] != tags[1]
    finally:
        await client.close()


async def test_rfc3581_s4_response_via_records_the_tls_source(
    prepared: Prepared, node: Node
) -> None:
    """RFC 3261 §18.2.1 / RFC 3581 §4 over a real socket: the phone's Via says
    192.0.2.10:5061 with a valueless rport; the answer's top Via carries the
    address and port the node saw."""
    client = await connect(prepared, node)
    try:
        ip, port = client.local_address
        resp = await register(client, phone(), None)
        assert resp.status == 401
        via = resp.get("via")
        assert via.startswith("SIP/2.0/TLS 192.0.2.10:5061;branch=")
        assert via.endswith(f";rport={port};received={ip}")
    finally:
        await client.close()


def _signing_private_key(prepared: Prepared):
    return prepared.tokens.keys.current_signing.private_key


def _claims(prepared: Prepared, **changes):
    now = int(time.time())
    claims = {
        "iss": prepared.tokens.issuer,
        "aud": prepared.tokens.audience,
        "sub": PHONE,
        "client_id": "phone",
        "scope": "sip:register",
        "sid": "forged",
        "jti": "j1",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return claims


def _forge(prepared: Prepared, case: str) -> str:
    keys = prepared.tokens.keys
    enc = keys.current_encryption
    sign = keys.current_signing
    header = {"alg": "RS256", "typ": "at+jwt", "kid": sign.kid}
    if case == "forged signature":
        token = prepared.mint()
        inner = open_jwe(token, enc)
        head, payload, sig = inner.split(b".")
        flipped = bytearray(sig)
        flipped[5] ^= 0x01
        return jwe(b".".join([head, payload, bytes(flipped)]), enc)
    if case == "expired":
        return prepared.mint(now=time.time() - 7200, lifetime=600)
    if case == "wrong audience":
        return prepared.mint(audience="urn:sipoauth:cluster:someone-else")
    if case == "alg none":
        return jwe(
            jws({"alg": "none", "typ": "at+jwt", "kid": sign.kid}, _claims(prepared), None), enc
        )
    if case == "HS256 with the public key":
        public_pem = sign.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return jwe(
            jws({"alg": "HS256", "typ": "at+jwt", "kid": sign.kid}, _claims(prepared), public_pem),
            enc,
        )
    if case == "unknown kid":
        header = {**header, "kid": b64url(b"no-such-key")}
        return jwe(jws(header, _claims(prepared), _signing_private_key(prepared)), enc)
    if case == "another cluster":
        other = KeyRing([SigningKey.generate()], [EncryptionKey.generate()])
        return prepared.mint(keys=other)
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "forged signature",
        "expired",
        "wrong audience",
        "alg none",
        "HS256 with the public key",
        "unknown kid",
        "another cluster",
    ],
)
async def test_bad_tokens_get_401_invalid_token(prepared: Prepared, node: Node, case) -> None:
    """RFC 8725 §2/§3.1, RFC 6750 §3.1: each bad token is refused with invalid_token."""
    client = await connect(prepared, node)
    try:
        resp = await register(client, phone(), _forge(prepared, case), proxy_form=False)
        assert resp.status == 401, case
        assert 'error="invalid_token"' in resp.get("www-authenticate")
        assert len(node.registrar.table) == 0
    finally:
        await client.close()


async def test_token_for_another_device_is_403(prepared: Prepared, node: Node) -> None:
    client = await connect(prepared, node)
    try:
        resp = await register(client, phone(), prepared.mint(PHONE2))
        assert resp.status == 403
    finally:
        await client.close()


async def test_retransmission_gets_the_same_response(prepared: Prepared, node: Node) -> None:
    """RFC 3261 §17.2.2: a retransmitted REGISTER is answered again, not processed again."""
    client = await connect(prepared, node)
    try:
        request = register_request(
            phone(), call_id="rt", cseq=7, branch="z9hG4bK-rt", token=prepared.mint()
        )
        first = await client.request(request)
        second = await client.request(request)
        assert first.status == second.status == 200
        assert first.to.tag == second.to.tag
        assert first.get("date") == second.get("date")
    finally:
        await client.close()


async def test_keepalive_ping_gets_pong(prepared: Prepared, node: Node) -> None:
    """RFC 5626 §4.4.1: a double CRLF ping is answered with a single CRLF pong."""
    client = await connect(prepared, node)
    try:
        await client.send(b"\r\n\r\n")
        pong = await asyncio.wait_for(client._reader.read(100), 5)
        assert pong == b"\r\n"
        resp = await register(client, phone(), prepared.mint())
        assert resp.status == 200
    finally:
        await client.close()


async def test_bad_clients_do_not_disturb_others(prepared: Prepared, node: Node) -> None:
    """A garbage sender, a stalled handshake and an aborted one leave a phone unaffected."""
    port = port_of(node, "TLS")
    # A client that never starts TLS, and one that sends garbage instead of a ClientHello.
    _, stalled = await asyncio.open_connection("127.0.0.1", port)
    _, garbage = await asyncio.open_connection("127.0.0.1", port)
    garbage.write(b"REGISTER sip:x SIP/2.0\r\n\r\n" * 10)
    # A TLS client that sends malformed SIP.
    noisy = await connect(prepared, node)
    await noisy.send(b"\x00\x01 this is not SIP at all\r\n\r\n")
    client = await connect(prepared, node)
    try:
        resp = await register(client, phone(), prepared.mint())
        assert resp.status == 200
    finally:
        for w in (stalled, garbage):
            w.close()
        await noisy.close()
        await client.close()


async def test_lost_connection_keeps_binding_until_expiry(prepared: Prepared, node: Node) -> None:
    """RFC 5626 §4.2: a lost flow is dead, but the binding lives until it expires."""
    client = await connect(prepared, node)
    resp = await register(client, phone(), prepared.mint())
    assert resp.status == 200
    await client.close()
    await asyncio.sleep(0.1)
    assert len(node.flows) == 0
    (binding,) = list(node.registrar.table)
    assert binding.device == PHONE
    assert not node.flows.send_to_binding(binding, "NOTIFY", [])


async def test_notify_reaches_device_down_its_flow(prepared: Prepared, node: Node) -> None:
    """The node can send a request back down the device's own connection."""
    client = await connect(prepared, node)
    try:
        assert (await register(client, phone(), prepared.mint())).status == 200
        (binding,) = list(node.registrar.table)
        sent = node.flows.send_to_binding(
            binding,
            "NOTIFY",
            [
                ("Via", "SIP/2.0/TLS localhost;branch=z9hG4bK-n1"),
                ("Max-Forwards", "70"),
                ("From", "<sip:localhost>;tag=n"),
                ("To", "<sip:1001@localhost>"),
                ("Call-ID", "notify-1"),
                ("CSeq", "1 NOTIFY"),
                ("Event", "check-sync"),
            ],
        )
        assert sent
        data = await asyncio.wait_for(client._reader.read(4096), 5)
        assert data.startswith(b"NOTIFY sip:1001@192.0.2.10:5061;transport=tls SIP/2.0\r\n")
    finally:
        await client.close()


async def test_revocation_drops_live_registration(prepared: Prepared, node: Node) -> None:
    """DESIGN Tokens: revocation takes effect at once, dropping live registrations."""
    client = await connect(prepared, node)
    try:
        token = prepared.mint(sid="to-revoke")
        assert (await register(client, phone(), token, cseq=1, call_id="rv")).status == 200
        assert node.revoke_grant("to-revoke") == 1
        assert len(node.registrar.table) == 0
        await client.close()  # the node closed it: its only registration went
        client = await connect(prepared, node)
        resp = await register(client, phone(), token, cseq=2, call_id="rv")
        assert resp.status == 407  # the phone used Proxy-Authorization: answered in kind
        assert 'error="invalid_token"' in resp.get("proxy-authenticate")
    finally:
        await client.close()


# -- SIP MRA Port: mutual TLS from a configured edge (R5, R6) -----------------------------


async def _handshake_refused(prepared: Prepared, node: Node, cert) -> None:
    client = None
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            client = await connect(prepared, node, cert=cert, mra=True)
            # TLS 1.3: the server's refusal may arrive after the client's handshake finished.
            await client.request(
                register_request(
                    phone(),
                    call_id="x",
                    cseq=1,
                    branch="z9hG4bK-x",
                    token=None,
                    extra=(f"Path: {PATH}",),
                ),
                timeout=5,
            )
    finally:
        if client is not None:
            await client.close()


async def test_r6_mra_port_refuses_client_without_certificate(prepared, node) -> None:
    await _handshake_refused(prepared, node, None)


async def test_r6_mra_port_refuses_untrusted_ca(prepared, node) -> None:
    await _handshake_refused(prepared, node, prepared.untrusted_cert)


async def test_r6_mra_port_refuses_trusted_cert_matching_no_edge(prepared, node) -> None:
    """R6: chaining to tomcat-trust is not enough: the names must match an edge entry."""
    await _handshake_refused(prepared, node, prepared.stranger_cert)


async def test_r6_edge_registration_with_path_accepted(prepared: Prepared, node: Node) -> None:
    """R5/R6 + RFC 3327: a configured edge relays a REGISTER with Path; it is stored."""
    client = await connect(prepared, node, cert=prepared.edge_cert, mra=True)
    try:
        resp = await register(
            client, phone(), prepared.mint(), extra=(f"Path: {PATH}", "Supported: path")
        )
        assert resp.status == 200
        assert resp.get_all("path") == [PATH]
        (binding,) = list(node.registrar.table)
        assert binding.via_edge and binding.path == (PATH,)
        sent = node.flows.send_to_binding(binding, "NOTIFY", [("Call-ID", "n2")])
        assert sent
        data = await asyncio.wait_for(client._reader.read(4096), 5)
        assert f"Route: {PATH}\r\n".encode() in data
    finally:
        await client.close()


async def test_r5_direct_registration_on_mra_port_is_port_mismatch(prepared, node) -> None:
    client = await connect(prepared, node, cert=prepared.edge_cert, mra=True)
    try:
        resp = await register(client, phone(), prepared.mint())
        assert resp.status == 403
        assert resp.get("retry-after") == "35"
        assert "SIP OAuth Registration port Mismatch" in resp.get("warning")
    finally:
        await client.close()


def test_edge_name_is_what_the_test_edge_presents() -> None:
    assert EDGE_NAME == "expc.example.com"
    assert json.dumps(EDGE_NAME)


async def test_refresh_only_moving_expiry_is_not_rewritten(prepared: Prepared, node: Node) -> None:
    """Write-behind: a refresh that only moves the expiry (by less than mirror_slack)
    is not written again; a changed contact is written."""
    client = await connect(prepared, node)
    try:
        token = prepared.mint()
        ident = phone()
        assert (await register(client, ident, token, cseq=1, call_id="m")).status == 200
        await node.flush()
        (first,) = await node.store.registrations.list(device_name=PHONE)
        await asyncio.sleep(1.1)
        assert (await register(client, ident, token, cseq=2, call_id="m")).status == 200
        await node.flush()
        (second,) = await node.store.registrations.list(device_name=PHONE)
        assert second.expires_at == first.expires_at
        ident.local = "192.0.2.99:5061"  # same instance, new contact address
        assert (await register(client, ident, token, cseq=3, call_id="m")).status == 200
        await node.flush()
        (third,) = await node.store.registrations.list(device_name=PHONE)
        assert "192.0.2.99" in third.contact
        assert third.expires_at > first.expires_at
    finally:
        await client.close()


async def test_refusals_are_logged_without_the_token(
    prepared: Prepared, node: Node, capfd: pytest.CaptureFixture[str]
) -> None:
    """STYLE.md rule 10: a refusal is logged (device, status, why) but never the token."""
    client = await connect(prepared, node)
    try:
        token = prepared.mint(PHONE2)
        resp = await register(client, phone(), token)
        assert resp.status == 403
    finally:
        await client.close()
    err = capfd.readouterr().err
    assert "sip request refused" in err
    assert token not in err
    assert token[:40] not in err


async def test_challenge_style_change_applies_without_restart(
    prepared: Prepared, node: Node
) -> None:
    """REFERENCE-BEHAVIOUR step 2: the 407 + Proxy-Authenticate style is a setting; the
    node picks a change up from the store's change notification."""
    from sipoauth import admin

    client = await connect(prepared, node)
    try:
        await admin.set_challenge_style(node.store, "proxy")
        for _ in range(100):
            if node.registrar.settings.challenge_style == "proxy":
                break
            await asyncio.sleep(0.05)
        resp = await register(client, phone(), None)
        assert resp.status == 407
        assert resp.get("proxy-authenticate").startswith('Bearer realm="ccmsipline"')
    finally:
        await admin.set_challenge_style(node.store, "rfc8898")
        await client.close()


async def test_challenge_style_refuses_unknown_value(node: Node) -> None:
    from sipoauth import admin

    with pytest.raises(admin.InvalidValue, match="rfc8898, proxy"):
        await admin.set_challenge_style(node.store, "digest")


async def test_r8_mode_change_waits_for_callmanager_restart(prepared: Prepared, node: Node) -> None:
    """R7/R8: `utils sipOAuth-mode disable` marks the node restart pending; the running
    service keeps registering until it restarts, then refuses (403 prerequisite)."""
    from sipoauth import admin

    await admin.set_sip_oauth_mode(node.store, node_name="node1", enabled=False)
    try:
        await node.load()  # what the change notification triggers
        assert node.directory.oauth_mode  # still the mode the service started with
        assert (await node.store.node_services.get("node1", "callmanager")).restart_pending
        await node.stop()
        await node.start()  # "Restart" of Cisco CallManager
        assert not node.directory.oauth_mode
        assert not (await node.store.node_services.get("node1", "callmanager")).restart_pending
        client = await connect(prepared, node)
        try:
            resp = await register(client, phone(), prepared.mint())
            assert resp.status == 403
            assert resp.get("retry-after") == "35"
        finally:
            await client.close()
    finally:
        await admin.set_sip_oauth_mode(node.store, node_name="node1", enabled=True)


async def test_stalled_handshake_is_disconnected_after_timeout(prepared: Prepared) -> None:
    """A client that opens TCP and never finishes TLS is dropped after the handshake
    timeout (it must not hold a slot for ever)."""
    from ._support import start_node

    node = await start_node(prepared, handshake_timeout=0.3)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(node, "TLS"))
        try:
            data = await asyncio.wait_for(reader.read(100), 5)
            assert data == b""  # closed by the node
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    finally:
        await node.close()
