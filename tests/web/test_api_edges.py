"""Edge entries, the edge's certificate push, MRA service domains (R6, R12)."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sipoauth import admin
from sipoauth.oauth import Peer
from sipoauth.pki import NodePki, generate_ca, issue_client_certificate

from ._checks import last_audit, refused
from ._support import Api, snapshot

EDGE = "expc.example.com"


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


async def test_edges(api: Api) -> None:
    async with api.client() as client:
        r = await client.post(
            "/edges",
            json={"address": "192.0.2.50", "x509_names": [EDGE], "description": "DC 1"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["x509_names"] == [EDGE]
        assert await last_audit(api.store) == [("add", "edge", "192.0.2.50")]
        await refused(api, client, 409, "POST", "/edges", json={"address": "192.0.2.50"})
        await refused(api, client, 422, "POST", "/edges", json={"address": "not an address!"})
        await refused(
            api, client, 422, "POST", "/edges", json={"address": "e", "x509_names": ["a b"]}
        )
        r = await client.patch(
            "/edges/192.0.2.50", json={"description": "DC 2", "domain": "partner.example"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["description"] == "DC 2" and r.json()["x509_names"] == [EDGE]
        assert r.json()["domain"] == "partner.example"
        r = await client.patch("/edges/192.0.2.50", json={"domain": None})
        assert r.json()["domain"] is None
        r = await client.get("/edges", params={"contains": "dc 2"})
        assert [e["address"] for e in r.json()] == ["192.0.2.50"]
        assert (await client.get("/edges", params={"contains": "nowhere"})).json() == []
        assert (await client.get("/edges/192.0.2.50")).json()["description"] == "DC 2"
        await refused(api, client, 404, "GET", "/edges/198.51.100.1")
        await refused(api, client, 404, "PATCH", "/edges/198.51.100.1", json={"description": ""})
        assert (await client.delete("/edges/192.0.2.50")).status_code == 204
        await refused(api, client, 404, "DELETE", "/edges/192.0.2.50")


def _edge_certificate(api: Api, *names: str) -> bytes:
    pki, _ = NodePki.load_or_create(
        api.node.pki.directory, hostname="localhost", now=datetime.now(UTC)
    )
    assert pki.ca_key is not None
    cert, _ = issue_client_certificate(
        pki.ca_cert, pki.ca_key, common_name=names[0], dns_names=list(names), now=datetime.now(UTC)
    )
    return _der(cert)


async def test_edge_push_reads_the_names_from_the_certificate(api: Api) -> None:
    await admin.add_edge(api.store, address="192.0.2.50", x509_names=["old.example.com"])
    der = _edge_certificate(api, EDGE, "expc2.example.com")
    api.peer[0] = Peer("192.0.2.50", client_cert=der)
    async with api.client(auth=None) as client:  # no administrator
        r = await client.post("/edges/push", json={"description": "pushed"})
        assert r.status_code == 200, r.text
        assert r.json()["address"] == "192.0.2.50"
        assert r.json()["x509_names"] == [EDGE, "expc2.example.com"]
        assert r.json()["description"] == "pushed"
        rows = await admin.list_audit(api.store, limit=1)
        assert (rows[0].actor, rows[0].interface) == ("192.0.2.50", "edge")
        # an entry named by the certificate, from another address
        api.peer[0] = Peer("198.51.100.9", client_cert=der)
        r = await client.post("/edges/push", json={"address": "EXPC2.example.com"})
        assert r.status_code == 200, r.text
        assert r.json()["address"] == "expc2.example.com"
        # the body cannot name another edge's entry, nor change the names
        await refused(api, client, 403, "POST", "/edges/push", json={"address": "192.0.2.50"})
        await refused(api, client, 422, "POST", "/edges/push", json={"x509_names": ["evil"]})


async def test_edge_push_refusals(api: Api) -> None:
    async with api.client(auth=None) as client:
        body = await refused(api, client, 401, "POST", "/edges/push")  # no TLS peer at all
        assert "certificate" in body["message"]
        api.peer[0] = Peer("192.0.2.50")  # TLS, no client certificate
        await refused(api, client, 401, "POST", "/edges/push")
        # a certificate of another CA (as a MIC under callmanager-trust could be)
        ca, key = generate_ca("Other CA", now=datetime.now(UTC))
        stranger, _ = issue_client_certificate(
            ca, key, common_name=EDGE, dns_names=[EDGE], now=datetime.now(UTC)
        )
        api.peer[0] = Peer("192.0.2.50", client_cert=_der(stranger))
        body = await refused(api, client, 403, "POST", "/edges/push")
        assert "tomcat-trust" in body["message"]
        # admin credentials do not replace the certificate
    async with api.client() as client:
        api.peer[0] = None
        await refused(api, client, 401, "POST", "/edges/push")


async def test_mra_domains(api: Api) -> None:
    async with api.client() as client:
        r = await client.post(
            "/mra-domains", json={"name": "Remote", "domains": ["mra.example.com"]}
        )
        assert r.status_code == 201, r.text
        assert r.json() == {**r.json(), "name": "Remote", "is_default": False}
        assert await last_audit(api.store) == [("add", "mra-domain", "Remote")]
        await refused(
            api,
            client,
            409,
            "POST",
            "/mra-domains",
            json={"name": "Remote", "domains": ["a.example"]},
        )
        await refused(api, client, 422, "POST", "/mra-domains", json={"name": "X", "domains": []})
        r = await client.patch("/mra-domains/Remote", json={"is_default": True})
        assert r.json()["is_default"] is True and r.json()["domains"] == ["mra.example.com"]
        await refused(api, client, 422, "PATCH", "/mra-domains/Remote", json={"domains": None})
        assert [d["name"] for d in (await client.get("/mra-domains")).json()] == ["Remote"]
        assert (await client.get("/mra-domains/Remote")).status_code == 200
        await admin.add_device(
            api.store,
            name="SEP001122334455",
            model="8851",
            lines=["1001"],
            allow_activation_via_mra=True,
            mra_service_domain="Remote",
        )
        await refused(api, client, 409, "DELETE", "/mra-domains/Remote")
        await admin.delete_device(api.store, "SEP001122334455")
        before = await snapshot(api.store)
        assert (await client.delete("/mra-domains/Remote")).status_code == 204
        assert await snapshot(api.store) != before
        await refused(api, client, 404, "GET", "/mra-domains/Remote")
