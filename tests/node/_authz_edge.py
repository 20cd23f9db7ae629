"""Helpers for the authorization server's loopback tests (docs/oauth.md, R12).

HTTPS clients on the web port (with or without a TLS client certificate),
unique users and devices per test (the prepared data directory is shared by a
module), the activation-code and sign-in flows as devices run them, and a
REGISTER on the SIP Phone OAuth Port or, relayed by the edge, the MRA port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import itertools
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sipoauth import admin
from sipoauth.node import Node
from sipoauth.oauth import AccessClaims
from sipoauth.pki import (
    cert_to_pem,
    client_ssl_context,
    fingerprint_sha256,
    issue_client_certificate,
    key_to_pem,
)
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request
from sipoauth.sip import Response
from sipoauth.store import Device, Store, TrustedCert

from ._support import ClientCert, Prepared, port_of

ACTIVATION_GRANT = "urn:sipoauth:params:oauth:grant-type:activation-code"
DESK_CLIENT = "sipoauth-desk-phone"
CSF_CLIENT = "sipoauth-csf"
REDIRECT_URI = "http://127.0.0.1:5555/callback"
SCOPE = "sip:register config:read"
EDGE_PATH = "<sip:expc.example.com:5061;transport=tls;lr>"
ADMIN = ("admin", "test-password")
MODEL = "8851"

_numbers = itertools.count(1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def unique_phone_name() -> str:
    """A desk phone name (``SEP`` + 12 hex digits) no other test uses."""
    return f"SEP{secrets.token_hex(6).upper()}"


def unique_dn() -> str:
    """A directory number no other test uses."""
    return f"7{secrets.randbelow(10**6):06d}{next(_numbers):03d}"


@dataclass(frozen=True)
class Phone:
    """A desk phone added for one test."""

    name: str
    line: str
    model: str = MODEL

    @property
    def mac(self) -> str:
        return self.name[3:]

    def ident(self) -> PhoneIdentity:
        return PhoneIdentity(device=self.name, line=self.line, domain="localhost", model=self.model)


@dataclass(frozen=True)
class User:
    """An end user added for one test, with a soft client (CSF) they own."""

    user_id: str
    password: str
    soft_client: str
    line: str

    def ident(self) -> PhoneIdentity:
        return PhoneIdentity(
            device=self.soft_client, line=self.line, domain="localhost", model="CSF"
        )


async def add_phone(
    store: Store, *, allow_mra: bool = False, owner: str | None = None, name: str | None = None
) -> Phone:
    """A desk phone with an OAuth profile; "Allow Activation Code via MRA" as asked."""
    phone = Phone(name or unique_phone_name(), unique_dn())
    await admin.add_device(
        store,
        name=phone.name,
        model=phone.model,
        lines=[phone.line],
        profile=admin.OAUTH_PROFILE,
        owner=owner,
    )
    if allow_mra:
        await set_allow_mra(store, phone.name, True)
    return phone


async def set_allow_mra(store: Store, name: str, allow: bool) -> None:
    """Device field "Allow Activation Code via MRA" (R12.1); no admin rule exists yet."""
    record = await store.devices.get(name)
    assert record is not None
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(Device)}
    await store.devices.update(Device(**{**fields, "allow_activation_via_mra": allow}))
    await store.notify("config", f"device {name}")


async def add_user(store: Store, user_id: str | None = None) -> User:
    """An end user with a password and a soft client (CSF) they own."""
    user_id = user_id or f"user{secrets.token_hex(4)}"
    password = f"pw-{secrets.token_urlsafe(12)}"
    await admin.add_user(store, user_id, password=password)
    soft = f"CSF{secrets.token_hex(4).upper()}"
    line = unique_dn()
    await admin.add_device(
        store, name=soft, model="CSF", lines=[line], profile=admin.OAUTH_PROFILE, owner=user_id
    )
    return User(user_id, password, soft, line)


async def new_code(store: Store, device: str) -> str:
    """A fresh activation code (16 digits) for the phone."""
    code, _ = await admin.generate_activation_code(store, device, now=datetime.now(UTC))
    return code


def web(prepared: Prepared, node: Node, cert: ClientCert | None = None) -> httpx.AsyncClient:
    """An HTTPS client of the node's web port, presenting ``cert`` if given."""
    context = client_ssl_context(
        [prepared.ca_pem], cert.chain if cert else None, cert.key if cert else None
    )
    return httpx.AsyncClient(
        verify=context, base_url=f"https://localhost:{port_of(node, 'HTTPS')}", timeout=20
    )


async def activate(
    client: httpx.AsyncClient,
    code: str,
    phone: Phone,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """The activation-code grant as a desk phone sends it."""
    return await client.post(
        "/oauth/token",
        data={
            "grant_type": ACTIVATION_GRANT,
            "client_id": DESK_CLIENT,
            "activation_code": code,
            "mac": phone.mac,
            "model": phone.model,
        },
        headers=headers,
    )


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(client_id: str, challenge: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


@dataclass
class SignIn:
    """What one authorization-code sign-in produced (the tests check all of it)."""

    verifier: str
    code: str
    pages: list[httpx.Response]
    token: httpx.Response


async def sign_in(
    client: httpx.AsyncClient,
    user_id: str,
    password: str,
    *,
    client_id: str = CSF_CLIENT,
    wrong_password: str | None = None,
) -> SignIn:
    """The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636), as a soft
    client's browser runs it; optionally a failed attempt first."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, challenge)
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    pages = [page]
    attempts = [wrong_password, password] if wrong_password is not None else [password]
    for attempt in attempts:
        found = _CSRF.search(page.text)
        assert found is not None, page.text
        form = {**params, "csrf_token": found.group(1), "user_id": user_id, "password": attempt}
        page = await client.post("/oauth/authorize", data=form)
        pages.append(page)
    assert page.status_code == 302, page.text
    query = parse_qs(urlsplit(page.headers["location"]).query)
    code = query["code"][0]
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    return SignIn(verifier, code, pages, token)


async def introspect(client: httpx.AsyncClient, token: str) -> dict[str, object]:
    response = await client.post("/oauth/introspect", data={"token": token}, auth=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def register(
    prepared: Prepared,
    node: Node,
    ident: PhoneIdentity,
    token: str | None,
    *,
    edge: bool = False,
    proxy_form: bool = True,
    edge_cert: ClientCert | None = None,
) -> Response:
    """One REGISTER with the token: directly on the SIP Phone OAuth Port, or with
    ``edge`` as the edge relays it (mutual TLS with its certificate — ``edge_cert``
    if given — and a Path header)."""
    cert = (edge_cert or prepared.edge_cert) if edge else None
    context = client_ssl_context(
        [prepared.ca_pem], cert.chain if cert else None, cert.key if cert else None
    )
    port = port_of(node, "mTLS" if edge else "TLS")
    client = await SipTlsClient.connect("127.0.0.1", port, context, server_hostname="localhost")
    try:
        extra = (f"Path: {EDGE_PATH}", "Supported: path") if edge else ()
        request = register_request(
            ident,
            call_id=str(uuid.uuid4()),
            cseq=1,
            branch=f"z9hG4bK-{uuid.uuid4().hex}",  # unique across connections (RFC 3261 §8.1.1.7)
            token=token,
            proxy_form=proxy_form,
            extra=extra,
        )
        return await client.request(request)
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def parameter(node: Node, name: str, value: str) -> AsyncIterator[None]:
    """An enterprise/service parameter set for the body of a test, then reset; the
    node reloads at once (what the "config" notification triggers)."""
    await admin.set_parameter(node.store, name, value)
    await node.load()
    try:
        yield
    finally:
        await admin.reset_parameter(node.store, name)
        await node.load()


def claims_of(node: Node, token: str) -> AccessClaims:
    """The verified claims of an access token (the registrar's own check, cheaper
    than introspection, which hashes the administrator's password each time)."""
    assert node.authz is not None
    return node.authz.verifier.verify(token, time.time())


async def until_known(node: Node, *devices: str) -> None:
    """Wait until the node's directory has the devices (the "config" notification
    of ``admin.add_device`` reloads it); a generous bound, not a timing assertion."""
    for _ in range(400):
        if all(node.directory.device(name) is not None for name in devices):
            return
        await asyncio.sleep(0.025)
    await node.load()  # notification lost: load ourselves


def ca_hierarchy(
    directory: Path, common_name: str, dns_names: tuple[str, ...] = ()
) -> tuple[x509.Certificate, ClientCert]:
    """A root CA (the trust anchor), an intermediate CA under it and a client
    certificate from the intermediate, written as leaf + intermediate (what an
    Expressway with an enterprise CA presents). Returns the root and the client."""
    now = datetime.now(UTC)
    root_key, mid_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Enterprise Root (test)")])
    mid_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Enterprise Issuing (test)")])
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )

    def ca(
        subject: x509.Name,
        issuer: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        path_length: int | None,
    ) -> x509.Certificate:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                critical=False,
            )
            .sign(signer, hashes.SHA256())
        )

    root = ca(root_name, root_name, root_key, root_key, None)
    mid = ca(mid_name, root_name, mid_key, root_key, 0)
    leaf, leaf_key = issue_client_certificate(
        mid, mid_key, common_name=common_name, dns_names=list(dns_names), now=now
    )
    chain = directory / f"{common_name}-chain.pem"
    key_path = directory / f"{common_name}.key"
    chain.write_bytes(cert_to_pem(leaf) + cert_to_pem(mid))
    key_path.write_bytes(key_to_pem(leaf_key))
    return root, ClientCert(chain, key_path)


async def trust(store: Store, store_name: str, cert: x509.Certificate) -> None:
    """Put a CA certificate in a trust store (the node reads it when it starts)."""
    await store.trusted_certs.add(
        TrustedCert(
            store_name=store_name,
            fingerprint=fingerprint_sha256(cert),
            pem=cert_to_pem(cert).decode("ascii"),
            subject=cert.subject.rfc4514_string(),
            not_after=cert.not_valid_after_utc,
        )
    )
    await store.notify("config", "trust")
