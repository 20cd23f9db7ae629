"""Helpers for the Cisco TFTP loopback tests (issue 5, R10, docs/provisioning.md).

HTTP clients of a running node's TFTP ports (plain 6970, HTTPS 6971 with or
without a TLS client certificate), fetching a file with the raw bytes on the
wire (so gzip is seen as sent), schema-validating every document, reading the
parts of it the tests compare, waiting for the node to hear a change, and
certificates for the phone-edge-trust bundle.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import httpx
from cryptography import x509
from lxml import etree

from provisioning._schema import validate
from sipoauth.node import Node
from sipoauth.pki import cert_to_pem, client_ssl_context, generate_ca

from ._support import ClientCert, Prepared

T = TypeVar("T")

IDENTITY = {"accept-encoding": "identity"}
"""httpx asks for gzip by itself; the tests ask for it only when they mean to."""


def tftp_ports(node: Node) -> tuple[int, int]:
    """(HTTP 6970 role, HTTPS 6971 role): the ports the TFTP service bound."""
    ports = {x.name: x.port for x in node.tftp.listeners}
    return ports["TFTP HTTP"], ports["TFTP HTTPS"]


def plain(node: Node) -> httpx.AsyncClient:
    """A client of the bootstrap port (plain HTTP)."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tftp_ports(node)[0]}", headers=IDENTITY, timeout=20
    )


def secure(prepared: Prepared, node: Node, cert: ClientCert | None = None) -> httpx.AsyncClient:
    """A client of the secure port, trusting the node CA, presenting ``cert`` if given."""
    context = client_ssl_context(
        [prepared.ca_pem], cert.chain if cert else None, cert.key if cert else None
    )
    return httpx.AsyncClient(
        verify=context,
        base_url=f"https://localhost:{tftp_ports(node)[1]}",
        headers=IDENTITY,
        timeout=20,
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Fetched:
    """One response, with the body exactly as it came over the wire."""

    status: int
    headers: httpx.Headers
    raw: bytes

    @property
    def body(self) -> bytes:
        """The content, gunzipped when it was sent gzip-coded."""
        if self.headers.get("content-encoding") == "gzip":
            return gzip.decompress(self.raw)
        return self.raw


async def fetch(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    params: dict[str, str] | None = None,
) -> Fetched:
    async with client.stream(method, path, headers=headers, params=params) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return Fetched(response.status_code, response.headers, raw)


def device_path(name: str, *, sgn: bool = False) -> str:
    return f"/{name}.cnf.xml" + (".sgn" if sgn else "")


async def device_file(client: httpx.AsyncClient, name: str, token: str) -> etree._Element:
    """``name``'s file read with ``token``: 200 and schema-valid, or AssertionError."""
    got = await fetch(client, device_path(name), bearer(token))
    assert got.status == 200, (got.status, got.raw[:300])
    return validate(got.body)


def text(root: etree._Element, path: str) -> str:
    found = root.findtext(path)
    assert found is not None, f"{path} missing"
    return found


Ports = tuple[int, int, int, int]


def members(root: etree._Element) -> list[tuple[str, str, Ports]]:
    """The CallManager group's members in priority order: (name, host, the four
    SIP ports: sipPort, securedSipPort, sipOAuthPort, sipMRAOAuthPort)."""
    listed = root.findall("devicePool/callManagerGroup/members/member")
    assert [int(m.get("priority", "-1")) for m in listed] == list(range(len(listed)))
    out = []
    for member in listed:
        cm = member.find("callManager")
        assert cm is not None
        ports = tuple(
            int(text(cm, f"ports/{p}"))
            for p in ("sipPort", "securedSipPort", "sipOAuthPort", "sipMRAOAuthPort")
        )
        out.append((text(cm, "name"), text(cm, "processNodeName"), ports))
    return out  # type: ignore[return-value]


def config_servers(root: etree._Element) -> list[tuple[str, int]]:
    return [(text(s, "host"), int(text(s, "securePort"))) for s in root.findall("configServers/*")]


def lines(root: etree._Element) -> list[tuple[int, str]]:
    return [
        (int(line.get("button", "0")), text(line, "name"))
        for line in root.findall("sipProfile/sipLines/line")
    ]


async def until(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    what: str,
    *,
    timeout: float = 15.0,
    every: float = 0.02,
) -> T:
    """``probe()`` again until ``done`` holds for its value (the node hearing a
    change notification; on SQLite the store polls). A generous bound, not a
    timing assertion."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = await probe()
                if done(value):
                    return value
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


async def reloaded(node: Node, before: object) -> None:
    """Wait until the node has loaded its configuration again (each load builds
    a new directory snapshot)."""

    async def current() -> object:
        return node.directory

    await until(current, lambda d: d is not before, "configuration reloaded")


def trust_certificates(count: int, tag: str) -> list[x509.Certificate]:
    """``count`` distinct CA certificates for phone-edge-trust."""
    now = datetime.now(UTC)
    return [generate_ca(f"Edge trust {tag} {i}", now=now)[0] for i in range(count)]


def pem_bundle(certs: list[x509.Certificate]) -> bytes:
    return b"".join(cert_to_pem(c) for c in certs)


def bundle_hash(pems: list[str]) -> str:
    """SHA-256 over the certificates' DER in the order of their fingerprints
    (docs/provisioning.md "caconfig.json")."""
    ders = sorted(
        (ssl.PEM_cert_to_DER_cert(p) for p in pems), key=lambda d: hashlib.sha256(d).hexdigest()
    )
    digest = hashlib.sha256()
    for der in ders:
        digest.update(der)
    return digest.hexdigest()
