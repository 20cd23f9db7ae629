"""Admin pages: Certificate Management (R3, R5)."""

from __future__ import annotations

from datetime import UTC, datetime

from sipoauth import admin
from sipoauth.pki import cert_to_pem, generate_ca

from ._pages_support import browser
from ._support import Api, snapshot
from .test_pages_system import error_of


async def test_certificates(api: Api) -> None:
    ca, _ = generate_ca("Edge Test CA", now=datetime.now(UTC))
    pem = cert_to_pem(ca).decode()
    async with browser(api) as b:
        r = await b.get("/admin/certificates")
        assert r.status_code == 200 and "certificates in tomcat" in r.text
        assert "phone-edge-trust — the CA desk phones trust" in r.text
        before = await snapshot(api.store)
        r = await b.post("/admin/certificates/upload", {"purpose": "phone-edge-trust", "pem": ""})
        assert r.status_code == 422 and "choose a file" in error_of(r.text, "pem")
        r = await b.post(
            "/admin/certificates/upload", {"purpose": "phone-edge-trust", "pem": "garbage"}
        )
        assert r.status_code == 422 and 'class="error"' in r.text
        assert await snapshot(api.store) == before
        # R3: the CA to phone-edge-trust
        r = await b.post("/admin/certificates/upload", {"purpose": "phone-edge-trust", "pem": pem})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/admin/certificates?store=phone-edge-trust"
        r = await b.get(r.headers["location"])
        assert "Uploaded to phone-edge-trust" in r.text and "Edge Test CA" in r.text
        [row] = await admin.list_certificates(api.store, "phone-edge-trust")
        # the same again: refused
        r = await b.post("/admin/certificates/upload", {"purpose": "phone-edge-trust", "pem": pem})
        assert r.status_code == 422
        # delete, confirmed
        path = f"/admin/certificates/delete?store=phone-edge-trust&fingerprint={row.fingerprint}"
        r = await b.get(path)
        assert "Delete CN=Edge Test CA from phone-edge-trust?" in r.text
        r = await b.post(path, {"confirm": "yes"})
        assert r.status_code == 303
        assert await admin.list_certificates(api.store, "phone-edge-trust") == []
        # regenerate the web certificate, confirmed
        [old] = (
            await admin.list_certificates(api.store, "tomcat", node_name=api.context.node_name)
        )[:1]
        r = await b.get("/admin/certificates/regenerate")
        assert "Regenerate the web certificate (tomcat) of node1?" in r.text
        r = await b.post("/admin/certificates/regenerate", {"confirm": "yes"})
        assert r.status_code == 303
        new = (await admin.list_certificates(api.store, "tomcat", node_name=api.context.node_name))[
            0
        ]
        assert new.fingerprint != old.fingerprint


async def test_upload_web_certificate(api: Api) -> None:
    from sipoauth.pki import NodePki, issue_web_certificate, key_to_pem

    now = datetime.now(UTC)
    pki, _ = NodePki.load_or_create(api.node.pki.directory, hostname="localhost", now=now)
    assert pki.ca_key is not None
    cert, key = issue_web_certificate(pki.ca_cert, pki.ca_key, hostname="localhost", now=now)
    _, other_key = generate_ca("Other", now=now)
    form = {
        "cert_pem": cert_to_pem(cert).decode(),
        "key_pem": key_to_pem(other_key).decode(),
        "chain_pem": cert_to_pem(pki.ca_cert).decode(),
    }
    async with browser(api) as b:
        r = await b.get("/admin/certificates")
        assert "Upload the web certificate (tomcat) of node1" in r.text
        r = await b.post("/admin/certificates/tomcat", form)
        assert r.status_code == 422 and 'class="error"' in r.text
        assert "PRIVATE KEY" not in r.text  # the key is never sent back
        r = await b.post(
            "/admin/certificates/tomcat", {**form, "key_pem": key_to_pem(key).decode()}
        )
        assert r.status_code == 303, r.text
        r = await b.get(r.headers["location"])
        assert "The web certificate of node1 is now" in r.text
        [leaf, *_] = await admin.list_certificates(
            api.store, "tomcat", node_name=api.context.node_name
        )
        assert leaf.pem.strip() == cert_to_pem(cert).decode().strip()
