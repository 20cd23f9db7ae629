"""Certificate stores through the REST API (R3, R5)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization

from sipoauth.pki import (
    NodePki,
    cert_to_pem,
    fingerprint_sha256,
    generate_ca,
    issue_server_certificate,
    key_to_pem,
)

from ._checks import last_audit, refused
from ._support import Api

PEM = {"content-type": "application/x-pem-file"}


async def test_trust_store_upload_list_delete(api: Api) -> None:
    now = datetime.now(UTC)
    ca, _ = generate_ca("Partner Root", now=now)
    other, other_key = generate_ca("Other Root", now=now)
    der = ca.public_bytes(serialization.Encoding.DER)
    async with api.client() as client:
        r = await client.post(
            "/certificates/phone-edge-trust", content=cert_to_pem(ca), headers=PEM
        )
        assert r.status_code == 201, r.text
        [added] = r.json()
        assert added["subject"] == "CN=Partner Root"
        assert added["fingerprint"] == fingerprint_sha256(ca)
        assert await last_audit(api.store) == [("upload", "certificate", "phone-edge-trust")]
        # the same file again: a duplicate (409), DER this time
        await refused(
            api,
            client,
            409,
            "POST",
            "/certificates/phone-edge-trust",
            content=der,
            headers={"content-type": "application/pkix-cert"},
        )
        # JSON with base64, into another store
        r = await client.post(
            "/certificates/callmanager-trust", json={"data": base64.b64encode(der).decode()}
        )
        assert r.status_code == 201, r.text
        r = await client.get("/certificates/phone-edge-trust")
        assert [c["fingerprint"] for c in r.json()] == [fingerprint_sha256(ca)]
        # refusals: a key, not a certificate, bad base64, tomcat as a trust store
        await refused(
            api,
            client,
            422,
            "POST",
            "/certificates/tomcat-trust",
            content=key_to_pem(other_key),
            headers=PEM,
        )
        await refused(
            api, client, 422, "POST", "/certificates/tomcat-trust", content=b"hello", headers=PEM
        )
        await refused(api, client, 422, "POST", "/certificates/tomcat-trust", json={"data": "***"})
        await refused(api, client, 422, "POST", "/certificates/tomcat-trust", json={"pem": "x"})
        await refused(
            api,
            client,
            422,
            "POST",
            "/certificates/tomcat",
            content=cert_to_pem(other),
            headers=PEM,
        )
        await refused(
            api,
            client,
            415,
            "POST",
            "/certificates/tomcat-trust",
            content=cert_to_pem(other),
            headers={"content-type": "image/png"},
        )
        fingerprint = fingerprint_sha256(ca)
        r = await client.delete(f"/certificates/phone-edge-trust/{fingerprint}")
        assert r.status_code == 204
        await refused(api, client, 404, "DELETE", f"/certificates/phone-edge-trust/{fingerprint}")
        await refused(api, client, 422, "DELETE", "/certificates/phone-edge-trust/not-hex")


async def test_tomcat_regenerate_and_upload(api: Api) -> None:
    pki_dir = api.node.pki.directory
    async with api.client() as client:
        r = await client.get("/certificates/tomcat")
        assert r.status_code == 200
        old = r.json()[0]["fingerprint"]
        r = await client.post("/certificates/tomcat/regenerate")
        assert r.status_code == 200, r.text
        assert r.json()["fingerprint"] != old
        assert set(r.json()["restart_pending"]) == {"callmanager", "tftp", "tomcat"}
        assert await last_audit(api.store) == [("regenerate", "certificate", "tomcat")]
        pki, _ = NodePki.load_or_create(pki_dir, hostname="localhost", now=datetime.now(UTC))
        assert pki.ca_key is not None
        cert, key = issue_server_certificate(
            pki.ca_cert,
            pki.ca_key,
            common_name="localhost",
            dns_names=["localhost"],
            ip_addresses=[],
            now=datetime.now(UTC),
        )
        r = await client.put(
            "/certificates/tomcat",
            json={
                "certificate": cert_to_pem(cert).decode(),
                "private_key": key_to_pem(key).decode(),
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["fingerprint"] == fingerprint_sha256(cert)
        assert "PRIVATE" not in r.text
        _, wrong_key = generate_ca("x", now=datetime.now(UTC))
        await refused(
            api,
            client,
            422,
            "PUT",
            "/certificates/tomcat",
            json={
                "certificate": cert_to_pem(cert).decode(),
                "private_key": key_to_pem(wrong_key).decode(),
            },
        )
        # The node presents it once a service restart has taken it from the database.
        loaded = await api.node.refresh_identity()
        assert fingerprint_sha256(loaded.web_cert) == fingerprint_sha256(cert)
        assert (pki_dir / "tomcat.pem").read_bytes().startswith(cert_to_pem(cert))
