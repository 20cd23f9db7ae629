"""Manufacturer certificates: "OAuth Access Token for Devices" = Implicit.

docs/oauth.md "Manufacturer certificates": a desk phone presenting its
manufacturer certificate (MIC: chains to the ``callmanager-trust`` store and
names ``SEP`` + 12 hex digits) as the TLS client certificate on the web port
may use ``client_credentials`` with ``client_id=sipoauth-desk-phone`` (RFC 8705
§2.1 ``tls_client_auth``); the token names that phone and comes without a
refresh token (RFC 6749 §4.4.3). The manufacturer CA is put in the store once
per module; every node of these tests starts after it (the web port's TLS
context is built at start).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sipoauth.node import Node
from sipoauth.pki import (
    NodePki,
    cert_to_pem,
    generate_ca,
    issue_client_certificate,
    key_to_pem,
)
from sipoauth.sim import PhoneIdentity
from sipoauth.store import Store

from ._authz_edge import (
    DESK_CLIENT,
    activate,
    add_phone,
    ca_hierarchy,
    claims_of,
    introspect,
    new_code,
    parameter,
    register,
    trust,
    unique_phone_name,
    until_known,
    web,
)
from ._support import EDGE_NAME, PHONE, ClientCert, Prepared, start_node

CALLMANAGER_TRUST = "callmanager-trust"
TOKEN_FOR_DEVICES = "OAuth Access Token for Devices"
REFRESH_FLOW = "OAuth with Refresh Login Flow"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials", "client_id": DESK_CLIENT}


@dataclass
class Issuer:
    """A CA that can issue client certificates for the tests."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    directory: Path

    def issue(self, common_name: str, dns_names: tuple[str, ...] = ()) -> ClientCert:
        cert, key = issue_client_certificate(
            self.cert,
            self.key,
            common_name=common_name,
            dns_names=list(dns_names),
            now=datetime.now(UTC),
        )
        stem = self.directory / f"{cert.serial_number:x}"
        chain, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        chain.write_bytes(cert_to_pem(cert))
        key_path.write_bytes(key_to_pem(key))
        return ClientCert(chain, key_path)


async def _trust(prepared: Prepared, cert: x509.Certificate) -> None:
    store = await Store.open(prepared.url)
    try:
        await trust(store, CALLMANAGER_TRUST, cert)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def manufacturer(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    """The phone manufacturer's CA, in callmanager-trust."""
    cert, key = generate_ca("Phone Manufacturer CA (test)", now=datetime.now(UTC))
    asyncio.run(_trust(prepared, cert))
    return Issuer(cert, key, tmp_path_factory.mktemp("mic"))


@pytest.fixture(scope="module")
def node_ca(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    """The node's own CA (in tomcat-trust, not in callmanager-trust)."""
    pki, _ = NodePki.load_or_create(
        prepared.data_dir / "pki", hostname="localhost", now=datetime.now(UTC)
    )
    assert pki.ca_key is not None and isinstance(pki.ca_key, ec.EllipticCurvePrivateKey)
    return Issuer(pki.ca_cert, pki.ca_key, tmp_path_factory.mktemp("node-ca"))


def _mic_name(device: str, model: str = "8851") -> str:
    """The subject CN of a phone's manufacturer certificate."""
    return f"CP-{model}-{device}"


async def test_implicit_mic_gets_a_phone_token_without_refresh_that_registers(
    prepared: Prepared, manufacturer: Issuer, node: Node
) -> None:
    """RFC 8705 §2.1 + docs/oauth.md "Manufacturer certificates" (Implicit, the
    default): the MIC authenticates the desk-phone client; the token's ``sub`` is the
    phone; no refresh token even while the refresh flow is Enabled (RFC 6749 §4.4.3);
    the token registers that phone."""
    cert = manufacturer.issue(_mic_name(PHONE))
    async with parameter(node, REFRESH_FLOW, "Enabled"), web(prepared, node, cert) as phone:
        response = await phone.post("/oauth/token", data=CLIENT_CREDENTIALS)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "refresh_token" not in body
        assert body["token_type"] == "Bearer"
        claims = await introspect(phone, body["access_token"])
    assert claims["active"] is True
    assert claims["sub"] == PHONE
    assert claims["client_id"] == DESK_CLIENT
    reply = await register(
        prepared, node, PhoneIdentity(device=PHONE, line="1001"), body["access_token"]
    )
    assert reply.status == 200


async def test_explicit_refuses_mic_tokens_with_unauthorized_client(
    prepared: Prepared, manufacturer: Issuer, node: Node
) -> None:
    """docs/oauth.md "Manufacturer certificates": while "OAuth Access Token for
    Devices" is Explicit, client_credentials answers unauthorized_client."""
    phone = await add_phone(node.store)
    cert = manufacturer.issue(_mic_name(phone.name))
    async with parameter(node, TOKEN_FOR_DEVICES, "explicit"), web(prepared, node, cert) as client:
        response = await client.post("/oauth/token", data=CLIENT_CREDENTIALS)
    body = response.json()
    assert "access_token" not in body
    assert (response.status_code, body["error"]) == (400, "unauthorized_client")


async def test_client_credentials_without_a_client_certificate_is_invalid_client(
    prepared: Prepared, manufacturer: Issuer, node: Node
) -> None:
    """RFC 8705 §2.1: without a certificate the desk-phone client is not
    authenticated: invalid_client, 400 (docs/oauth.md "Errors and logs": 401 only
    where HTTP authentication was expected; RFC 6749 §5.2 requires 401 only for a
    client that tried the Authorization header)."""
    async with web(prepared, node) as client:
        response = await client.post("/oauth/token", data=CLIENT_CREDENTIALS)
    body = response.json()
    assert "access_token" not in body
    assert (response.status_code, body["error"]) == (400, "invalid_client")
    assert "www-authenticate" not in response.headers


async def test_mic_naming_no_device_of_the_cluster_is_invalid_grant(
    prepared: Prepared, manufacturer: Issuer, node: Node
) -> None:
    """docs/oauth.md "Manufacturer certificates": a MIC whose phone is not configured
    gets no token (invalid_grant)."""
    cert = manufacturer.issue(_mic_name(unique_phone_name()))
    async with web(prepared, node, cert) as client:
        response = await client.post("/oauth/token", data=CLIENT_CREDENTIALS)
    body = response.json()
    assert "access_token" not in body
    assert (response.status_code, body["error"]) == (400, "invalid_grant")


async def test_mic_cannot_get_a_token_for_another_phone(
    prepared: Prepared, manufacturer: Issuer, node: Node
) -> None:
    """RFC 8705 §2.1: the certificate, not a parameter, says which phone the token is
    for; a token so got does not register another phone (403)."""
    mine, other = await add_phone(node.store), await add_phone(node.store)
    await until_known(node, mine.name, other.name)
    cert = manufacturer.issue(_mic_name(mine.name))
    naming_other = {
        **CLIENT_CREDENTIALS,
        "mac": other.mac,
        "device": other.name,
        "device_name": other.name,
        "sub": other.name,
        "username": other.name,
        "model": other.model,
    }
    async with web(prepared, node, cert) as client:
        response = await client.post("/oauth/token", data=naming_other)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        claims = await introspect(client, token)
    assert claims["sub"] == mine.name
    assert (await register(prepared, node, other.ident(), token)).status == 403
    assert (await register(prepared, node, mine.ident(), token)).status == 200


async def test_mic_does_not_authenticate_a_soft_client(
    prepared: Prepared, manufacturer: Issuer, node: Node
) -> None:
    """docs/oauth.md "Clients": client_credentials is a desk-phone grant only; a MIC
    gets nothing for a soft-client id."""
    cert = manufacturer.issue(_mic_name(PHONE))
    async with web(prepared, node, cert) as client:
        response = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials", "client_id": "sipoauth-csf"}
        )
    body = response.json()
    assert response.status_code in (400, 401)
    assert "access_token" not in body
    assert body["error"] in ("unauthorized_client", "invalid_client")


async def test_tomcat_trust_certificate_naming_a_phone_is_not_a_mic(
    prepared: Prepared, manufacturer: Issuer, node_ca: Issuer, node: Node
) -> None:
    """node/_web.py PeerClassifier: a phone's name in a certificate of the web trust
    store (tomcat-trust) is not a manufacturer certificate: no token."""
    cert = node_ca.issue(_mic_name(PHONE))
    async with web(prepared, node, cert) as client:
        response = await client.post("/oauth/token", data=CLIENT_CREDENTIALS)
    body = response.json()
    assert "access_token" not in body
    assert body["error"] == "invalid_client"


async def test_manufacturer_certificate_naming_the_edge_is_not_via_mra(
    prepared: Prepared, manufacturer: Issuer, node: Node
) -> None:
    """R12 / docs/oauth.md "Through the edge": via MRA needs a certificate chaining to
    tomcat-trust; one of the manufacturer CA with the edge's name is a direct request
    (a phone without "Allow Activation Code via MRA" activates over it)."""
    phone = await add_phone(node.store, allow_mra=False)
    code = await new_code(node.store, phone.name)
    cert = manufacturer.issue(EDGE_NAME, (EDGE_NAME,))
    async with web(prepared, node, cert) as client:
        response = await activate(client, code, phone, headers={"X-Forwarded-For": "10.2.2.2"})
    assert response.status_code == 200, response.text


async def test_mic_issued_by_an_intermediate_ca_gets_a_token(
    prepared: Prepared, manufacturer: Issuer, tmp_path: Path
) -> None:
    """RFC 8705 §2.1, docs/oauth.md "Manufacturer certificates": manufacturer
    certificates come from an intermediate under the manufacturer's root (only the
    root in callmanager-trust; the phone sends leaf + intermediate): the phone is
    still authenticated and its token names it."""
    phone_name = unique_phone_name()
    root, cert = ca_hierarchy(tmp_path, _mic_name(phone_name))
    await _trust(prepared, root)
    node = await start_node(prepared)  # the web port's TLS trust is read at start
    try:
        phone = await add_phone(node.store, name=phone_name)
        async with web(prepared, node, cert) as client:
            response = await client.post("/oauth/token", data=CLIENT_CREDENTIALS)
        assert response.status_code == 200, response.text
        assert claims_of(node, response.json()["access_token"]).subject == phone.name
    finally:
        await node.close()


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(("{a}", ("{b}",)), id="two-phones"),
        pytest.param(("CP-8851-{a}5", ()), id="thirteen-hex-digits"),
        pytest.param(("CP-8851-X{a}", ()), id="glued-prefix"),
    ],
)
async def test_mic_must_name_exactly_one_phone(
    prepared: Prepared, manufacturer: Issuer, node: Node, names: tuple[str, tuple[str, ...]]
) -> None:
    """docs/oauth.md "Manufacturer certificates" (a ``SEP`` + 12 hex name): a
    certificate naming two phones, or a longer hex run that merely contains a phone's
    name, authenticates no phone (which one would it be?)."""
    a, b = await add_phone(node.store), await add_phone(node.store)
    common_name, dns = names
    cert = manufacturer.issue(
        common_name.format(a=a.name, b=b.name), tuple(n.format(a=a.name, b=b.name) for n in dns)
    )
    async with web(prepared, node, cert) as client:
        response = await client.post("/oauth/token", data=CLIENT_CREDENTIALS)
    body = response.json()
    assert "access_token" not in body, body
    assert body["error"] == "invalid_client"
