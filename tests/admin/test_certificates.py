"""Certificate management (issue 4 point 5, R3, R5): trust-store uploads (PEM,
DER, chains) and their refusals, listing, deletion, and the tomcat identity
(regenerate, upload) with CallManager, TFTP and Tomcat restart pending."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sipoauth import admin
from sipoauth.node._identity import sync_identity
from sipoauth.pki import (
    NodePki,
    cert_to_pem,
    fingerprint_sha256,
    generate_ca,
    issue_server_certificate,
    key_to_pem,
    load_certs_pem,
    load_key_pem,
)
from sipoauth.store import CA_IDENTITY, Identity, Node, Store, new_secret, web_identity

from ._state import snapshot

NOW = datetime.now(UTC).replace(microsecond=0)
PUB = "cucm-pub"
HOST = "cucm-pub.example.com"
DER = serialization.Encoding.DER


def _ca(name: str, *, now: datetime = NOW, days: int = 3650) -> tuple[x509.Certificate, bytes]:
    cert, key = generate_ca(name, now=now, days=days)
    return cert, key_to_pem(key)


def _pem(name: str, **kwargs: object) -> bytes:
    return cert_to_pem(_ca(name, **kwargs)[0])  # type: ignore[arg-type]


def _self_signed_rsa(bits: int, cn: str = HOST) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert_to_pem(cert), key_to_pem(key)


# -- trust stores ----------------------------------------------------------------------


async def test_upload_pem_list_delete(store: Store) -> None:
    cert, _ = _ca("Edge Root CA")
    added = await admin.upload_trust(store, "tomcat-trust", cert_to_pem(cert))
    assert [a.fingerprint for a in added] == [fingerprint_sha256(cert)]
    listed = await admin.list_certificates(store, "tomcat-trust")
    assert len(listed) == 1
    info = listed[0]
    assert (info.subject, info.issuer) == ("CN=Edge Root CA", "CN=Edge Root CA")
    assert info.not_before == cert.not_valid_before_utc
    assert info.not_after == cert.not_valid_after_utc
    assert info.fingerprint == fingerprint_sha256(cert)
    assert await admin.list_certificates(store, "phone-edge-trust") == []
    # Any case and without colons.
    await admin.delete_certificate(store, "TOMCAT-TRUST", info.fingerprint.replace(":", "").lower())
    assert await admin.list_certificates(store, "tomcat-trust") == []
    with pytest.raises(admin.NotFound):
        await admin.delete_certificate(store, "tomcat-trust", info.fingerprint)


async def test_upload_der(store: Store) -> None:
    cert, _ = _ca("Phone Root CA")
    added = await admin.upload_trust(store, "phone-edge-trust", cert.public_bytes(DER))
    assert added[0].subject == "CN=Phone Root CA"


async def test_upload_chain_adds_every_certificate(store: Store) -> None:
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("edge.example.com")
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems) + root.cert_pem.bytes()
    added = await admin.upload_trust(store, "tomcat-trust", chain)
    assert len(added) == 3
    assert len(await admin.list_certificates(store, "tomcat-trust")) == 3


async def test_upload_announces_and_audits(store: Store) -> None:
    async with store.listen("config") as changes:
        await admin.upload_trust(store, "phone-edge-trust", _pem("CA"))
        assert await anext(aiter(changes)) == "trust store phone-edge-trust"
    (row,) = await admin.list_audit(store)
    assert (row.action, row.object_type, row.object_id) == (
        "upload",
        "certificate",
        "phone-edge-trust",
    )


def _with_key() -> bytes:
    cert, key = _ca("With Key")
    return cert_to_pem(cert) + key


def _der_key() -> bytes:
    _, key_pem = _ca("Der Key")
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _encrypted_der_key() -> bytes:
    _, key_pem = _ca("Enc Key")
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.private_bytes(
        DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret-pass"),
    )


@pytest.mark.parametrize(
    ("store_name", "data", "error", "message"),
    [
        ("tomcat-trust", b"hello", admin.InvalidValue, "is not a certificate"),
        ("tomcat-trust", b"", admin.InvalidValue, "is not a certificate"),
        ("tomcat-trust", _with_key(), admin.InvalidValue, "a private key cannot be uploaded"),
        ("tomcat-trust", _ca("K")[1], admin.InvalidValue, "a private key cannot be uploaded"),
        ("tomcat-trust", _der_key(), admin.InvalidValue, "a private key cannot be uploaded"),
        (
            "tomcat-trust",
            _encrypted_der_key(),
            admin.InvalidValue,
            "a private key cannot be uploaded",
        ),
        (
            "tomcat-trust",
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            admin.InvalidValue,
            "only certificates are accepted, not PUBLIC KEY",
        ),
        (
            "tomcat-trust",
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            admin.InvalidValue,
            "not a valid PEM certificate",
        ),
        (
            "tomcat-trust",
            _pem("Old", now=NOW - timedelta(days=20), days=10),
            admin.InvalidValue,
            "has expired",
        ),
        (
            "tomcat-trust",
            _pem("Future", now=NOW + timedelta(days=10)),
            admin.InvalidValue,
            "is not valid yet",
        ),
        (
            "tomcat-trust",
            _pem("Good") + _pem("Old", now=NOW - timedelta(days=20), days=10),
            admin.InvalidValue,
            "has expired",
        ),
        ("no-such-store", _pem("X"), admin.InvalidValue, "tomcat, tomcat-trust, phone-edge-trust"),
        ("tomcat", _pem("X"), admin.InvalidValue, "not a trust store"),
        ("tomcat-trust", b"x" * (admin.MAX_UPLOAD_BYTES + 1), admin.InvalidValue, "larger than"),
    ],
)
async def test_refused_uploads_store_nothing(
    store: Store, store_name: str, data: bytes, error: type, message: str
) -> None:
    before = await snapshot(store)
    with pytest.raises(error, match=message):
        await admin.upload_trust(store, store_name, data)
    assert await snapshot(store) == before


async def test_duplicates_are_refused(store: Store) -> None:
    pem = _pem("Dup CA")
    await admin.upload_trust(store, "tomcat-trust", pem)
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match="already in tomcat-trust"):
        await admin.upload_trust(store, "tomcat-trust", _pem("Other") + pem)
    with pytest.raises(admin.InvalidValue, match="twice"):
        await admin.upload_trust(store, "phone-edge-trust", pem + pem)
    assert await snapshot(store) == before
    await admin.upload_trust(store, "phone-edge-trust", pem)  # another store: fine


async def test_phone_edge_trust_holds_at_most_16(store: Store) -> None:
    pems = [_pem(f"CA {i}") for i in range(17)]
    await admin.upload_trust(store, "phone-edge-trust", b"".join(pems[:10]))
    before = await snapshot(store)
    with pytest.raises(admin.InvalidValue, match="at most 16 certificates: it has 10"):
        await admin.upload_trust(store, "phone-edge-trust", b"".join(pems[10:]))
    assert await snapshot(store) == before
    await admin.upload_trust(store, "phone-edge-trust", b"".join(pems[10:16]))
    assert len(await admin.list_certificates(store, "phone-edge-trust")) == 16
    with pytest.raises(admin.InvalidValue, match="at most 16"):
        await admin.upload_trust(store, "phone-edge-trust", pems[16])
    await admin.upload_trust(store, "tomcat-trust", b"".join(pems))  # no limit there


async def test_delete_refusals(store: Store) -> None:
    with pytest.raises(admin.InvalidValue, match="64 hex digits"):
        await admin.delete_certificate(store, "tomcat-trust", "abc")
    with pytest.raises(admin.InvalidValue, match="not a trust store"):
        await admin.delete_certificate(store, "tomcat", "AB" * 32)


# -- tomcat ----------------------------------------------------------------------------


async def _cluster_pki(store: Store, directory: Path) -> NodePki:
    """What ``init`` makes: the cluster secret, then the cluster CA and this
    node's web certificate in the database, and their copy in ``directory``."""
    if not store.unlocked:
        await store.unlock(new_secret(), create=True)
    sync = await sync_identity(store, directory, node_name=PUB, hostname=HOST, now=NOW)
    return sync.pki


@pytest_asyncio.fixture
async def pki_dir(store: Store, tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    await _cluster_pki(store, directory)
    return directory


async def _web(store: Store, node: str = PUB) -> tuple[list[x509.Certificate], str | None]:
    row = await store.identities.get(web_identity(node))
    assert row is not None
    return load_certs_pem(row.chain_pem.encode()), row.key_pem


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


async def _node(store: Store) -> None:
    await store.nodes.upsert(Node(name=PUB, host=HOST))
    await store.nodes.upsert(Node(name="cucm-sub1", host="h2", role="subscriber"))


async def _pending(store: Store) -> dict[tuple[str, str], bool]:
    return {(s.node_name, s.service): s.restart_pending for s in await store.node_services.list()}


async def test_list_tomcat(store: Store, pki_dir: Path) -> None:
    """The tomcat store lists a node's chain, leaf first, as the database holds it."""
    pki = await _cluster_pki(store, pki_dir)
    listed = await admin.list_certificates(store, "tomcat", node_name=PUB)
    assert [c.fingerprint for c in listed] == [
        fingerprint_sha256(pki.web_cert),
        fingerprint_sha256(pki.ca_cert),
    ]
    with pytest.raises(admin.InvalidValue):
        await admin.list_certificates(store, "tomcat")
    with pytest.raises(admin.NotFound, match="run sipoauth init"):
        await admin.list_certificates(store, "tomcat", node_name="cucm-sub1")


async def test_regenerate_tomcat(store: Store, pki_dir: Path) -> None:
    """Issue 8 point 4: the new certificate goes to the database, issued by the
    cluster CA; the node's files change when it next syncs (a service restart)."""
    await _node(store)
    old = await _cluster_pki(store, pki_dir)
    files = _files(pki_dir)
    info = await admin.regenerate_tomcat(store, node_name=PUB, now=NOW)
    assert _files(pki_dir) == files  # the running services keep the old one
    chain, key = await _web(store)
    assert info.fingerprint == fingerprint_sha256(chain[0]) != fingerprint_sha256(old.web_cert)
    assert chain[1] == old.ca_cert and key is not None
    new = await _cluster_pki(store, pki_dir)  # what the restart does
    assert new.web_cert == chain[0] and new.web_key.public_key() != old.web_key.public_key()
    assert new.web_cert_problems(NOW) == []
    assert stat.S_IMODE((pki_dir / "tomcat.key").stat().st_mode) == 0o600
    assert info.restart_pending == ("callmanager", "tftp", "tomcat")
    assert await _pending(store) == {
        (PUB, "callmanager"): True,
        (PUB, "tftp"): True,
        (PUB, "tomcat"): True,
    }
    (row,) = await admin.list_audit(store)
    assert (row.action, row.object_id, row.detail["fingerprint"]) == (
        "regenerate",
        "tomcat",
        info.fingerprint,
    )


async def test_regenerate_refused_without_the_ca_key(store: Store, pki_dir: Path) -> None:
    """A cluster CA held outside (no key in the database) issues nothing here."""
    await _node(store)
    ca = await store.identities.get(CA_IDENTITY)
    assert ca is not None
    await store.identities.put(Identity(name=CA_IDENTITY, chain_pem=ca.chain_pem, key_pem=None))
    web, before = await _web(store), await snapshot(store)
    with pytest.raises(admin.Conflict, match="external CA"):
        await admin.regenerate_tomcat(store, node_name=PUB)
    with pytest.raises(admin.NotFound):
        await admin.regenerate_tomcat(store, node_name="ghost")
    assert (await _web(store), await snapshot(store)) == (web, before)


async def test_regenerate_needs_the_cluster_secret(
    store: Store, pki_dir: Path, migrated_db_url: str
) -> None:
    """Without the secret the CA key cannot be read: refused, by name."""
    await _node(store)
    locked = await Store.open(migrated_db_url)
    try:
        with pytest.raises(admin.Conflict, match="needs the cluster secret"):
            await admin.regenerate_tomcat(locked, node_name=PUB)
    finally:
        await locked.close()


async def test_upload_tomcat_with_chain(store: Store, pki_dir: Path) -> None:
    await _node(store)
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert(HOST)
    info = await admin.upload_tomcat(
        store,
        node_name=PUB,
        cert_pem=leaf.cert_chain_pems[0].bytes(),
        key_pem=leaf.private_key_pem.bytes(),
        chain_pem=intermediate.cert_pem.bytes(),
    )
    chain, key = await _web(store)
    assert fingerprint_sha256(chain[0]) == info.fingerprint and len(chain) == 2
    assert key is not None
    uploaded = load_key_pem(leaf.private_key_pem.bytes()).public_key()
    assert load_key_pem(key.encode()).public_key() == uploaded
    pki = await _cluster_pki(store, pki_dir)
    assert fingerprint_sha256(pki.web_cert) == info.fingerprint
    assert len(pki.web_chain) == 2
    assert stat.S_IMODE((pki_dir / "tomcat.key").stat().st_mode) == 0o600
    assert await _pending(store) == {
        (PUB, "callmanager"): True,
        (PUB, "tftp"): True,
        (PUB, "tomcat"): True,
    }


async def test_upload_tomcat_without_chain(store: Store, pki_dir: Path) -> None:
    """Issued by the cluster CA (appended), or self-signed RSA 2048: no chain needed."""
    await _node(store)
    ca = await store.identities.get(CA_IDENTITY)
    assert ca is not None and ca.key_pem is not None
    ca_cert = load_certs_pem(ca.chain_pem.encode())[0]
    cert, key = issue_server_certificate(
        ca_cert,
        load_key_pem(ca.key_pem.encode()),
        common_name=HOST,
        dns_names=[HOST],
        ip_addresses=[],
        now=NOW,
    )
    await admin.upload_tomcat(
        store, node_name=PUB, cert_pem=cert_to_pem(cert), key_pem=key_to_pem(key)
    )
    assert (await _web(store))[0] == [cert, ca_cert]
    rsa_cert, rsa_key = _self_signed_rsa(2048)
    await admin.upload_tomcat(store, node_name=PUB, cert_pem=rsa_cert, key_pem=rsa_key)
    assert len((await _web(store))[0]) == 1
    loaded = await _cluster_pki(store, pki_dir)
    assert len(loaded.web_chain) == 1


def _leaf_of(ca: trustme.CA, **kwargs: object) -> trustme.LeafCert:
    return ca.issue_cert(HOST, **kwargs)  # type: ignore[arg-type]


async def test_upload_tomcat_refusals_change_nothing(store: Store, pki_dir: Path) -> None:
    await _node(store)
    root, other = trustme.CA(), trustme.CA()
    leaf, stranger = _leaf_of(root), _leaf_of(other)
    expired = _leaf_of(root, not_before=NOW - timedelta(days=10), not_after=NOW - timedelta(days=1))
    future = _leaf_of(root, not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=9))
    weak_cert, weak_key = _self_signed_rsa(1024)
    good = leaf.cert_chain_pems[0].bytes()
    good_key = leaf.private_key_pem.bytes()
    chain = root.cert_pem.bytes()
    cases: list[tuple[dict[str, object], str]] = [
        (
            {"cert_pem": good, "key_pem": stranger.private_key_pem.bytes(), "chain_pem": chain},
            "the key does not belong to the certificate",
        ),
        (
            {"cert_pem": good, "key_pem": good_key, "chain_pem": other.cert_pem.bytes()},
            "does not lead to the certificate's issuer",
        ),
        ({"cert_pem": good, "key_pem": good_key}, "chain of the certificate's issuer is missing"),
        ({"cert_pem": weak_cert, "key_pem": weak_key}, "1024 bits: at least 2048"),
        (
            {
                "cert_pem": expired.cert_chain_pems[0].bytes(),
                "key_pem": expired.private_key_pem.bytes(),
                "chain_pem": chain,
            },
            "has expired",
        ),
        (
            {
                "cert_pem": future.cert_chain_pems[0].bytes(),
                "key_pem": future.private_key_pem.bytes(),
                "chain_pem": chain,
            },
            "is not valid yet",
        ),
        ({"cert_pem": b"junk", "key_pem": good_key, "chain_pem": chain}, "not a PEM certificate"),
        ({"cert_pem": good + chain, "key_pem": good_key}, "holds 2 certificates"),
        ({"cert_pem": good, "key_pem": b"junk", "chain_pem": chain}, "the key file"),
        ({"cert_pem": good, "key_pem": good_key, "chain_pem": b"junk"}, "chain file"),
    ]
    files, web, before = _files(pki_dir), await _web(store), await snapshot(store)
    for kwargs, message in cases:
        with pytest.raises(admin.InvalidValue, match=message):
            await admin.upload_tomcat(store, node_name=PUB, **kwargs)  # type: ignore[arg-type]
    assert (_files(pki_dir), await _web(store), await snapshot(store)) == (files, web, before)


async def test_trust_changes_wait_for_the_listeners_that_verify_clients(store: Store) -> None:
    """R8: tomcat-trust is loaded by the MRA port (CallManager) and the web and
    TFTP HTTPS ports when they start, callmanager-trust by the two HTTPS ports;
    a change marks them "restart pending" on every node. phone-edge-trust is only
    published (caconfig.json): nothing waits for a restart."""
    await admin.add_server(store, "pub", "10.0.0.1", "publisher")
    await admin.add_server(store, "sub", "10.0.0.2")

    async def pending() -> set[tuple[str, str]]:
        return {
            (r.node_name, r.service) for r in await store.node_services.list() if r.restart_pending
        }

    await admin.upload_trust(store, "phone-edge-trust", _pem("Phone Edge CA"), now=NOW)
    assert await pending() == set()
    await admin.upload_trust(store, "callmanager-trust", _pem("MIC CA"), now=NOW)
    assert await pending() == {(n, s) for n in ("pub", "sub") for s in ("tftp", "tomcat")}
    (edge_ca,) = await admin.upload_trust(store, "tomcat-trust", _pem("Edge CA"), now=NOW)
    everything = {(n, s) for n in ("pub", "sub") for s in ("callmanager", "tftp", "tomcat")}
    assert await pending() == everything
    for node in ("pub", "sub"):
        for service in ("callmanager", "tftp", "tomcat"):
            await store.node_services.clear_restart_pending(node, service)  # type: ignore[arg-type]
    await admin.delete_certificate(store, "tomcat-trust", edge_ca.fingerprint)
    assert await pending() == everything
