"""The REST API served by a running node over HTTPS (issue 4): Basic and bearer
authentication, and the edge's certificate push over mutual TLS."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sipoauth import admin
from sipoauth.node import Node

from ._authz_edge import web
from ._support import EDGE_NAME, Prepared

API = "/api/v1"
ADMIN = ("admin", "test-password")
CHALLENGE = 'Basic realm="sipoauth", Bearer realm="sipoauth"'


async def test_basic_and_bearer_over_https(prepared: Prepared, node: Node) -> None:
    async with web(prepared, node) as client:
        r = await client.get(f"{API}/parameters")
        assert r.status_code == 401 and r.headers["www-authenticate"] == CHALLENGE
        r = await client.get(f"{API}/servers", auth=ADMIN)
        assert r.status_code == 200, r.text
        assert [s["name"] for s in r.json()] == ["node1"]
        r = await client.post(f"{API}/auth/tokens", auth=ADMIN)
        assert r.status_code == 201, r.text
        bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await client.put(
            f"{API}/parameters/Registration Interval (seconds)", json={"value": 300}, headers=bearer
        )
        assert r.status_code == 200, r.text
        rows = await admin.list_audit(node.store, limit=1)
        assert (rows[0].actor, rows[0].interface, rows[0].action) == ("admin", "api", "set")
        assert (
            await client.delete(f"{API}/auth/tokens/current", headers=bearer)
        ).status_code == 204
        r = await client.get(f"{API}/servers", headers=bearer)
        assert r.status_code == 401
        r = await client.get(f"{API}/openapi.json")
        assert r.status_code == 200 and r.json()["servers"] == [{"url": API}]


async def test_edge_pushes_its_certificate_names(prepared: Prepared, node: Node) -> None:
    """Reference behaviour "Edge": the edge pushes its certificate's CN/SANs; the names
    come from the certificate it presented over mutual TLS, not from the request."""
    async with web(prepared, node, prepared.edge_cert) as edge:
        r = await edge.post(f"{API}/edges/push", json={"address": EDGE_NAME})
        assert r.status_code == 200, r.text
        assert r.json()["address"] == EDGE_NAME
        assert r.json()["x509_names"] == [EDGE_NAME]
        r = await edge.post(f"{API}/edges/push")  # the entry of its source address
        assert r.status_code == 200, r.text
        assert r.json()["address"] == "127.0.0.1"
        r = await edge.post(f"{API}/edges/push", json={"address": "192.0.2.99"})
        assert r.status_code == 403
        # an edge's certificate is no administrator
        r = await edge.get(f"{API}/edges")
        assert r.status_code == 401
    rows = await admin.list_audit(node.store, object_type="edge", limit=2)
    assert {(row.actor, row.interface) for row in rows} == {
        ("127.0.0.1", "edge"),
        (EDGE_NAME, "edge"),
    }
    addresses = {e.address for e in await admin.find_edges(node.store)}
    assert {EDGE_NAME, "127.0.0.1"} <= addresses


async def test_edge_push_refused_without_a_trusted_certificate(
    prepared: Prepared, node: Node
) -> None:
    before = await admin.find_edges(node.store)
    async with web(prepared, node) as direct:
        r = await direct.post(f"{API}/edges/push")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = await direct.post(f"{API}/edges/push", auth=ADMIN)  # nor do admin credentials do
        assert r.status_code == 401
    async with web(prepared, node, prepared.untrusted_cert) as untrusted:
        with pytest.raises(httpx.TransportError):  # unknown CA: the handshake fails
            await untrusted.post(f"{API}/edges/push")
    assert await admin.find_edges(node.store) == before


async def test_restart_callmanager_through_the_api(prepared: Prepared, node: Node) -> None:
    """R8: a restart asked through the API is executed by the node; it applies
    what waited for it ("restart pending" cleared)."""
    await admin.set_server_ports(node.store, "node1", sip_port=5070)  # restart pending
    async with web(prepared, node) as client:
        r = await client.get(f"{API}/services", auth=ADMIN)
        callmanager = next(s for s in r.json() if s["service_id"] == "callmanager")
        assert callmanager["state"] == "running" and callmanager["restart_pending"]
        r = await client.post(f"{API}/services/node1/callmanager/restart", auth=ADMIN)
        assert r.status_code == 202, r.text
        location = r.headers["location"]
        for _ in range(100):
            command = (await client.get(location, auth=ADMIN)).json()
            if command["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        assert command["status"] == "done", command
        r = await client.get(f"{API}/services", params={"node": "node1"}, auth=ADMIN)
        callmanager = next(s for s in r.json() if s["service_id"] == "callmanager")
        assert callmanager["state"] == "running" and not callmanager["restart_pending"]
        r = await client.get(f"{API}/open-ports", auth=ADMIN)
        assert {p["name"] for p in r.json()} >= {
            "SIP Phone OAuth Port",
            "SIP Mobile and Remote Access Port",
        }
