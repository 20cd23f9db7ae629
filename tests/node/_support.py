"""A real node on loopback for the tests: data directory, devices, edge, certificates."""

from __future__ import annotations

import asyncio
import itertools
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sipoauth import admin
from sipoauth.node import Node, NodeConfig, TokenContext, initialise, token_context
from sipoauth.oauth import mint_access_token
from sipoauth.pki import cert_to_pem, generate_ca, issue_client_certificate, key_to_pem
from sipoauth.store import SECRET_FILE, Store, database_url_for, read_secret_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oauth"))

PHONE = "SEP001122334455"
PHONE2 = "SEP00AABBCCDDEE"
EDGE_NAME = "expc.example.com"
NODE = "node1"


@dataclass
class ClientCert:
    chain: Path
    key: Path


@dataclass
class Prepared:
    """A data directory with devices, an edge entry and SIP OAuth mode on."""

    data_dir: Path
    url: str
    tokens: TokenContext
    ca_pem: bytes
    edge_cert: ClientCert
    stranger_cert: ClientCert
    untrusted_cert: ClientCert

    @property
    def secret(self) -> bytes:
        """The cluster secret (what a node joining the cluster is given)."""
        return read_secret_file(self.data_dir / SECRET_FILE)

    def mint(self, subject: str = PHONE, **kw: object) -> str:
        defaults: dict[str, object] = {
            "issuer": self.tokens.issuer,
            "audience": self.tokens.audience,
            "subject": subject,
            "client_id": "phone",
            "scope": "sip:register config:read",
            "sid": f"sid-{next(_sids)}",
            "now": datetime.now(UTC).timestamp(),
            "lifetime": 3600,
        }
        defaults.update(kw)
        keys = defaults.pop("keys", self.tokens.keys)
        return mint_access_token(keys, **defaults)  # type: ignore[arg-type]


_sids = itertools.count(1)


def _write_cert(directory: Path, name: str, cert: object, key: object) -> ClientCert:
    chain = directory / f"{name}.pem"
    key_path = directory / f"{name}.key"
    chain.write_bytes(cert_to_pem(cert))  # type: ignore[arg-type]
    key_path.write_bytes(key_to_pem(key))  # type: ignore[arg-type]
    return ClientCert(chain, key_path)


async def prepare(root: Path, url: str | None = None) -> Prepared:
    data_dir = root / "var"
    url = url or database_url_for(data_dir)
    store = await Store.open(url)
    try:
        await initialise(
            store,
            data_dir=data_dir,
            hostname="localhost",
            node_name=NODE,
            admin_password="test-password",
        )
        await admin.register_license(
            store, virtual_account="tests", allow_export_controlled=True, node_name=NODE
        )
        await admin.set_sip_oauth_mode(store, node_name=NODE, enabled=True)
        await admin.add_device(
            store, name=PHONE, model="8851", lines=["1001"], profile=admin.OAUTH_PROFILE
        )
        await admin.add_device(
            store, name=PHONE2, model="8851", lines=["2001"], profile=admin.OAUTH_PROFILE
        )
        await admin.add_edge(
            store, address="192.0.2.50", x509_names=[EDGE_NAME], description="Expressway-C"
        )
        tokens = await token_context(store)
    finally:
        await store.close()
    from sipoauth.pki import NodePki

    pki, _ = NodePki.load_or_create(data_dir / "pki", hostname="localhost", now=datetime.now(UTC))
    assert pki.ca_key is not None
    now = datetime.now(UTC)
    edge_cert, edge_key = issue_client_certificate(
        pki.ca_cert, pki.ca_key, common_name=EDGE_NAME, dns_names=[EDGE_NAME], now=now
    )
    stranger, stranger_key = issue_client_certificate(
        pki.ca_cert,
        pki.ca_key,
        common_name="intruder.example.net",
        dns_names=["intruder.example.net"],
        now=now,
    )
    other_ca, other_ca_key = generate_ca("Some Other CA", now=now)
    untrusted, untrusted_key = issue_client_certificate(
        other_ca, other_ca_key, common_name=EDGE_NAME, dns_names=[EDGE_NAME], now=now
    )
    certs = root / "certs"
    certs.mkdir()
    return Prepared(
        data_dir=data_dir,
        url=url,
        tokens=tokens,
        ca_pem=cert_to_pem(pki.ca_cert),
        edge_cert=_write_cert(certs, "edge", edge_cert, edge_key),
        stranger_cert=_write_cert(certs, "stranger", stranger, stranger_key),
        untrusted_cert=_write_cert(certs, "untrusted", untrusted, untrusted_key),
    )


async def start_node(prepared: Prepared, node_name: str = NODE, **config: object) -> Node:
    cfg = NodeConfig(
        data_dir=prepared.data_dir,
        database_url=prepared.url,
        node_name=node_name,
        hostname="localhost",
        bind="127.0.0.1",
        port_overrides=(
            ("oauth", 0),
            ("mra", 0),
            ("web", 0),
            ("tftp", 0),
            ("tftp_secure", 0),
        ),
        **config,  # type: ignore[arg-type]
    )
    node = await Node.open(cfg)
    await node.start()
    return node


def port_of(node: Node, protocol: str) -> int:
    return next(x.port for x in node.listeners if x.protocol == protocol)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
