"""Edge (Expressway-C) entries (R6, issue 4 point 6): add, edit, find, delete,
and an edge pushing its own certificate's names — read from the certificate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sipoauth import admin
from sipoauth.pki import generate_ca, issue_client_certificate, issue_server_certificate
from sipoauth.store import EdgeRecord, Store, Subscription

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EDGE = "192.0.2.50"


async def _take(sub: Subscription, count: int, timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


def _cert(common_name: str, dns_names: list[str], ips: list[str] | None = None) -> bytes:
    ca, ca_key = generate_ca("Test CA", now=NOW)
    if ips:
        cert, _ = issue_server_certificate(
            ca, ca_key, common_name=common_name, dns_names=dns_names, ip_addresses=ips, now=NOW
        )
    else:
        cert, _ = issue_client_certificate(
            ca, ca_key, common_name=common_name, dns_names=dns_names, now=NOW
        )
    return cert.public_bytes(Encoding.DER)


async def _edges(store: Store) -> list[EdgeRecord]:
    return await store.edges.list()


async def test_add_update_find_delete(store: Store) -> None:
    async with store.listen("config") as changes:
        added = await admin.add_edge(
            store, address="ExpC.Example.COM.", x509_names=["expc.example.com"]
        )
        assert added.address == "expc.example.com"
        updated = await admin.update_edge(
            store,
            "EXPC.example.com",
            description="Expressway-C, DC 1",
            x509_names=["expc.example.com", "*.edge.example.com"],
            domain="Partner.example.net",
        )
        assert await _take(changes, 2) == ["edge expc.example.com"] * 2
    assert (updated.description, updated.x509_names, updated.domain) == (
        "Expressway-C, DC 1",
        ("expc.example.com", "*.edge.example.com"),
        "partner.example.net",
    )
    await admin.add_edge(store, address=EDGE, description="lab")
    assert [e.address for e in await admin.find_edges(store)] == [EDGE, "expc.example.com"]
    assert [e.address for e in await admin.find_edges(store, "DC 1")] == ["expc.example.com"]
    assert [e.address for e in await admin.find_edges(store, "PARTNER")] == ["expc.example.com"]
    assert [e.address for e in await admin.find_edges(store, "edge.example")] == [
        "expc.example.com"
    ]
    assert [e.address for e in await admin.find_edges(store, "192.0.2")] == [EDGE]
    assert await admin.find_edges(store, "nowhere") == []

    cleared = await admin.update_edge(store, "expc.example.com", domain="")
    assert cleared.domain is None
    await admin.delete_edge(store, "EXPC.EXAMPLE.COM")
    assert [e.address for e in await _edges(store)] == [EDGE]

    rows = await admin.list_audit(store, object_type="edge")
    assert [(r.action, r.object_id) for r in reversed(rows)] == [
        ("add", "expc.example.com"),
        ("update", "expc.example.com"),
        ("add", EDGE),
        ("update", "expc.example.com"),
        ("delete", "expc.example.com"),
    ]
    assert rows[1].detail == {"domain": {"old": "partner.example.net", "new": None}}


async def test_update_without_change_writes_nothing(store: Store) -> None:
    await admin.add_edge(store, address=EDGE, description="lab")
    same = await admin.update_edge(store, EDGE, description="lab")
    assert same == (await _edges(store))[0]
    assert len(await admin.list_audit(store)) == 1


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"x509_names": ["not a host!"]}, admin.InvalidValue, "is not a host name"),
        ({"domain": "bad domain"}, admin.InvalidValue, "is not an IP address"),
        ({"description": "two\nlines"}, admin.InvalidValue, "one line"),
        ({"description": "x" * 513}, admin.InvalidValue, "at most 512"),
        ({"x509_names": [f"h{i}.example.com" for i in range(101)]}, admin.InvalidValue, "100"),
    ],
)
async def test_update_refusals_change_nothing(
    store: Store, changes: dict[str, object], error: type[admin.AdminError], match: str
) -> None:
    await admin.add_edge(store, address=EDGE, x509_names=["expc.example.com"])
    before = await _edges(store)
    with pytest.raises(error, match=match):
        await admin.update_edge(store, EDGE, **changes)  # type: ignore[arg-type]
    assert await _edges(store) == before
    with pytest.raises(admin.NotFound, match="does not exist"):
        await admin.update_edge(store, "198.51.100.1", description="x")
    with pytest.raises(admin.NotFound, match="does not exist"):
        await admin.delete_edge(store, "198.51.100.1")
    assert len(await admin.list_audit(store)) == 1


async def test_add_refusals(store: Store) -> None:
    await admin.add_edge(store, address=EDGE)
    with pytest.raises(admin.Conflict, match="exists already"):
        await admin.add_edge(store, address=EDGE)
    with pytest.raises(admin.InvalidValue, match="one line"):
        await admin.add_edge(store, address="198.51.100.1", description="a\rb")
    assert [e.address for e in await _edges(store)] == [EDGE]


async def test_an_edge_pushes_its_certificate_names(store: Store) -> None:
    der = _cert("expc.example.com", ["expc.example.com", "expc2.example.com"])
    with admin.acting_as(admin.Actor("admin", "api")):  # the endpoint's caller
        record = await admin.record_edge_certificate(
            store, address=EDGE, cert_der=der, description="pushed"
        )
    assert (record.address, record.description) == (EDGE, "pushed")
    assert record.x509_names == ("expc.example.com", "expc2.example.com")
    [row] = await admin.list_audit(store)
    assert (row.actor, row.interface, row.action, row.object_id) == (EDGE, "edge", "add", EDGE)
    assert admin.current_actor() == admin.Actor("system", "system")

    # Pushed again with another certificate: the names are replaced, the
    # description and domain stay unless given.
    await admin.update_edge(store, EDGE, domain="partner.example.net")
    der2 = _cert("Expressway C", ["expc3.example.com"], ips=["192.0.2.50"])
    again = await admin.record_edge_certificate(store, address=EDGE, cert_der=der2)
    assert again.x509_names == ("192.0.2.50", "expc3.example.com")  # free-text CN left out
    assert (again.description, again.domain) == ("pushed", "partner.example.net")
    latest = (await admin.list_audit(store))[0]
    assert (latest.actor, latest.interface, latest.action) == (EDGE, "edge", "update")
    assert len(await _edges(store)) == 1


async def test_a_pushed_certificate_must_be_readable_and_name_a_host(store: Store) -> None:
    with pytest.raises(admin.InvalidValue, match="could not be read"):
        await admin.record_edge_certificate(store, address=EDGE, cert_der=b"not DER")
    with pytest.raises(admin.InvalidValue, match="names no host"):
        await admin.record_edge_certificate(store, address=EDGE, cert_der=_cert("Expressway C", []))
    with pytest.raises(admin.InvalidValue, match="not an IP address"):
        await admin.record_edge_certificate(
            store, address="bad address!", cert_der=_cert("expc.example.com", [])
        )
    assert await _edges(store) == []
    assert await admin.list_audit(store) == []


# -- where phones outside reach the edge (MRA config files) ------------------------------


async def test_public_host_and_ports(store: Store) -> None:
    plain = await admin.add_edge(store, address=EDGE)
    assert (plain.public_host, plain.public_sip_port, plain.public_web_port) == (None, 5061, 8443)
    added = await admin.add_edge(
        store,
        address="10.0.0.5",
        public_host="ExpE.Example.COM.",
        public_sip_port=5062,
        public_web_port=443,
    )
    assert (added.public_host, added.public_sip_port, added.public_web_port) == (
        "expe.example.com",
        5062,
        443,
    )
    row = (await admin.list_audit(store, object_id="10.0.0.5"))[0]
    assert (row.detail["public_host"], row.detail["public_sip_port"]) == ("expe.example.com", 5062)
    moved = await admin.update_edge(store, "10.0.0.5", public_host="203.0.113.7", public_web_port=1)
    assert (moved.public_host, moved.public_sip_port, moved.public_web_port) == (
        "203.0.113.7",
        5062,
        1,
    )
    row = (await admin.list_audit(store, object_id="10.0.0.5"))[0]
    assert row.detail == {
        "public_host": {"old": "expe.example.com", "new": "203.0.113.7"},
        "public_web_port": {"old": 443, "new": 1},
    }
    cleared = await admin.update_edge(store, "10.0.0.5", public_host="", public_sip_port=65535)
    assert (cleared.public_host, cleared.public_sip_port) == (None, 65535)
    # An edge pushing its certificate leaves the public address as it was.
    again = await admin.record_edge_certificate(
        store, address="10.0.0.5", cert_der=_cert("expc.example.com", ["expc.example.com"])
    )
    assert (again.public_host, again.public_sip_port, again.public_web_port) == (None, 65535, 1)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"public_host": "not a host!"}, "is not an IP address"),
        ({"public_sip_port": 0}, "public SIP port 0 is out of range: 1-65535"),
        ({"public_web_port": 65536}, "public HTTPS port 65536 is out of range"),
        ({"public_sip_port": True}, "public SIP port must be a whole number"),
        ({"public_web_port": "443"}, "public HTTPS port must be a whole number"),
    ],
)
async def test_public_refusals_change_nothing(
    store: Store, changes: dict[str, object], match: str
) -> None:
    await admin.add_edge(store, address=EDGE)
    before = await _edges(store)
    with pytest.raises(admin.InvalidValue, match=match):
        await admin.update_edge(store, EDGE, **changes)  # type: ignore[arg-type]
    with pytest.raises(admin.InvalidValue, match=match):
        await admin.add_edge(store, address="198.51.100.1", **changes)  # type: ignore[arg-type]
    assert await _edges(store) == before
    assert len(await admin.list_audit(store)) == 1
