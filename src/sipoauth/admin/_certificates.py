"""Certificate management (issue 4 point 5, R3, R5).

Stores, as the reference names them:

- `tomcat`: a node's identity, presented by every TLS listener (web, SIP
  OAuth ports, TFTP HTTPS). The database holds it per node, key sealed under
  the cluster secret (`store.identities`, issue 8 point 4); the node writes it
  to its data directory when a service that presents it starts
  (`node/_identity.py`). It is regenerated (issued again by the cluster CA)
  or replaced by an uploaded certificate, key and chain. Either way the
  services that present it keep the old one until restarted (REFERENCE-
  BEHAVIOUR "Operations"): CallManager, TFTP and Tomcat become "restart
  pending" on that node.
- trust stores, cluster-wide in the database (`store.trusted_certs`):
  `tomcat-trust` (clients of the web and MRA ports: the edge, R5/R6),
  `phone-edge-trust` (the bundle desk phones fetch as `caconfig.json`, R3;
  at most 16 certificates), `callmanager-trust` (manufacturer CAs of phones).

An upload to a trust store is a certificate or a chain, PEM (one or many) or
DER (one). It is refused as a whole, with nothing stored, when any part is
not a certificate, holds a private key, is already in that store, is outside
its validity period, or would take `phone-edge-trust` past 16. Nodes reload
trust stores on the `config` notification; the listeners that verify clients
with tomcat-trust or callmanager-trust (MRA port, web and TFTP HTTPS ports)
take a change when restarted, so those services become "restart pending" on
every node.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sipoauth.pki import (
    PkiError,
    PrivateKey,
    cert_to_pem,
    fingerprint_sha256,
    issue_web_certificate,
    issued_by,
    key_to_pem,
    load_certs_pem,
    load_key_pem,
)
from sipoauth.store import (
    CA_IDENTITY,
    AlreadyExists,
    Identity,
    JsonValue,
    SecretRequired,
    ServiceName,
    Store,
    TrustedCert,
    web_identity,
)

from ._audit import audit
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "CERTIFICATE_STORES",
    "MAX_UPLOAD_BYTES",
    "PHONE_EDGE_TRUST_MAX",
    "TOMCAT_RESTART",
    "TRUST_STORES",
    "CertificateInfo",
    "delete_certificate",
    "issue_node_certificate",
    "list_certificates",
    "regenerate_tomcat",
    "upload_tomcat",
    "upload_trust",
]

TrustStore = Literal["tomcat-trust", "phone-edge-trust", "callmanager-trust"]
TRUST_STORES: Final[tuple[TrustStore, ...]] = (
    "tomcat-trust",
    "phone-edge-trust",
    "callmanager-trust",
)
"""Trust stores (database, cluster-wide)."""
CERTIFICATE_STORES: Final = ("tomcat", *TRUST_STORES)
"""Every certificate store, as `certificates list` offers them."""
PHONE_EDGE_TRUST_MAX: Final = 16
"""REFERENCE-BEHAVIOUR "Configuration files": the bundle holds at most 16."""
MAX_UPLOAD_BYTES: Final = 1024 * 1024
"""An uploaded file (certificate, chain or key) is at most this long."""
RSA_MIN_BITS: Final = 2048
"""Smallest RSA key accepted for the web certificate."""
TOMCAT_RESTART: Final[tuple[ServiceName, ...]] = ("callmanager", "tftp", "tomcat")
TRUST_RESTART: Final[dict[str, tuple[ServiceName, ...]]] = {
    "tomcat-trust": ("callmanager", "tftp", "tomcat"),
    "callmanager-trust": ("tftp", "tomcat"),
}
"""The services whose TLS listeners verify clients with a trust store: they load
it when they start (the MRA port, the web and TFTP HTTPS ports), so a change
waits for their restart on every node (R8). phone-edge-trust is only published
(`caconfig.json`): nodes pick it up at once."""


async def _trust_changed(store: Store, name: str) -> list[JsonValue]:
    services = TRUST_RESTART.get(name, ())
    if services:
        nodes = [node.name for node in await store.nodes.list()]
        await store.node_services.mark_restart_pending(nodes, list(services))
    return list(services)


"""Services presenting the web certificate: restart pending after it changes."""

_TRUST_BY_NAME: Final[dict[str, TrustStore]] = {name: name for name in TRUST_STORES}
_OBJECT: Final = "certificate"
_PRIVATE_KEY_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_EC_CURVES: Final = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """A certificate as `certificates list` shows it."""

    store_name: str
    subject: str
    """Subject DN, RFC 4514."""
    issuer: str
    """Issuer DN, RFC 4514 ("" for trust-store entries stored before revision 0003)."""
    not_before: datetime | None
    not_after: datetime
    fingerprint: str
    """SHA-256, `AB:CD:…`."""
    pem: str
    """The certificate (public)."""
    restart_pending: tuple[ServiceName, ...] = ()
    """`regenerate_tomcat` / `upload_tomcat`: the services now restart pending."""


def _info(
    store_name: str, cert: x509.Certificate, restart_pending: tuple[ServiceName, ...] = ()
) -> CertificateInfo:
    return CertificateInfo(
        store_name=store_name,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint_sha256(cert),
        pem=cert_to_pem(cert).decode("ascii"),
        restart_pending=restart_pending,
    )


def _check_store(store_name: str) -> str:
    name = store_name.strip().lower()
    if name not in CERTIFICATE_STORES:
        raise InvalidValue(
            f"there is no certificate store {store_name!r}: use one of "
            f"{', '.join(CERTIFICATE_STORES)}"
        )
    return name


def _trust_store(store_name: str) -> TrustStore:
    name = _check_store(store_name)
    trust = _TRUST_BY_NAME.get(name)
    if trust is None:
        raise InvalidValue(
            "tomcat is the node's own certificate, not a trust store: "
            "use certificates regenerate tomcat or certificates upload-tomcat"
        )
    return trust


def _normal_fingerprint(text: str) -> str:
    digits = re.sub(r"[\s:]", "", text).upper()
    if not re.fullmatch(r"[0-9A-F]{64}", digits):
        raise InvalidValue(f"fingerprint {text!r}: 64 hex digits (SHA-256), colons allowed")
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


def _parse_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """Certificates of `data` (PEM, one or many; or DER, one); never a key."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidValue(f"{what} is larger than {MAX_UPLOAD_BYTES} bytes")
    if b"-----BEGIN" in data:
        if _PRIVATE_KEY_PEM.search(data):
            raise InvalidValue(f"{what}: a private key cannot be uploaded to a trust store")
        kinds = {kind.decode("ascii") for kind in _PEM_BLOCK.findall(data)}
        if kinds != {"CERTIFICATE"}:
            other = ", ".join(sorted(kinds - {"CERTIFICATE"}))
            raise InvalidValue(f"{what}: only certificates are accepted, not {other}")
        try:
            return load_certs_pem(data)
        except PkiError:
            raise InvalidValue(f"{what} is not a valid PEM certificate or chain") from None
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        pass
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:  # an encrypted private key: still a key
        pass
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidValue(f"{what} is not a certificate (PEM or DER X.509 expected)") from None
    raise InvalidValue(f"{what}: a private key cannot be uploaded to a trust store")


def _check_validity(cert: x509.Certificate, at: datetime, what: str) -> None:
    subject = cert.subject.rfc4514_string() or "(empty subject)"
    if at < cert.not_valid_before_utc:
        raise InvalidValue(
            f"{what} {subject!r} is not valid yet: its validity begins "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if at >= cert.not_valid_after_utc:
        raise InvalidValue(
            f"{what} {subject!r} has expired: its validity ended "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now.astimezone(UTC)


async def upload_trust(
    store: Store, store_name: str, data: bytes, *, now: datetime | None = None
) -> list[CertificateInfo]:
    """Add the certificate(s) of `data` to a trust store, all or none (R3, R5)."""
    name = _trust_store(store_name)
    certs = _parse_certificates(data, "the file")
    at = _now(now)
    seen: set[str] = set()
    for cert in certs:
        _check_validity(cert, at, "certificate")
        fingerprint = fingerprint_sha256(cert)
        if fingerprint in seen:
            raise InvalidValue(f"the file holds certificate {fingerprint} twice")
        seen.add(fingerprint)
    existing = {c.fingerprint for c in await store.trusted_certs.list(name)}
    for cert in certs:
        if fingerprint_sha256(cert) in existing:
            raise Conflict(
                f"certificate {cert.subject.rfc4514_string()!r} "
                f"({fingerprint_sha256(cert)}) is already in {name}"
            )
    if name == "phone-edge-trust" and len(existing) + len(certs) > PHONE_EDGE_TRUST_MAX:
        raise InvalidValue(
            f"phone-edge-trust holds at most {PHONE_EDGE_TRUST_MAX} certificates: it has "
            f"{len(existing)}, the file adds {len(certs)}; delete some first"
        )
    rows = [
        TrustedCert(
            store_name=name,
            fingerprint=fingerprint_sha256(cert),
            pem=cert_to_pem(cert).decode("ascii"),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )
        for cert in certs
    ]
    try:
        await store.trusted_certs.add_many(rows)
    except AlreadyExists:
        raise Conflict(f"a certificate of the file was added to {name} meanwhile") from None
    fingerprints: list[JsonValue] = [row.fingerprint for row in rows]
    subjects: list[JsonValue] = [row.subject for row in rows]
    restart = await _trust_changed(store, name)
    await audit(
        store,
        "upload",
        _OBJECT,
        name,
        {"fingerprints": fingerprints, "subjects": subjects, "restart_pending": restart},
    )
    await store.notify("config", f"trust store {name}")
    return [_info(name, cert) for cert in certs]


async def _tomcat_chain(store: Store, node_name: str | None) -> list[x509.Certificate]:
    if node_name is None:
        raise InvalidValue("the tomcat store is a node's: name the node")
    row = await store.identities.get(web_identity(node_name), with_key=False)
    if row is None:
        raise NotFound(
            f"the database holds no web certificate of {node_name!r}: "
            "run sipoauth init (or serve) on that node"
        )
    return load_certs_pem(row.chain_pem.encode("ascii"))


async def list_certificates(
    store: Store, store_name: str, *, node_name: str | None = None
) -> list[CertificateInfo]:
    """The certificates of a store: for `tomcat` the chain of node `node_name`,
    leaf first, as the database holds it; for a trust store its entries."""
    name = _check_store(store_name)
    if name == "tomcat":
        return [_info(name, cert) for cert in await _tomcat_chain(store, node_name)]
    return [
        CertificateInfo(
            store_name=name,
            subject=row.subject,
            issuer=row.issuer,
            not_before=row.not_before,
            not_after=row.not_after,
            fingerprint=row.fingerprint,
            pem=row.pem,
        )
        for row in await store.trusted_certs.list(name)
    ]


async def delete_certificate(store: Store, store_name: str, fingerprint: str) -> None:
    """Remove a certificate from a trust store (NotFound when it is not there)."""
    name = _trust_store(store_name)
    normal = _normal_fingerprint(fingerprint)
    row = await store.trusted_certs.get(name, normal)
    if row is None or not await store.trusted_certs.delete(name, normal):
        raise NotFound(f"there is no certificate {normal} in {name}")
    restart = await _trust_changed(store, name)
    await audit(
        store,
        "delete",
        _OBJECT,
        name,
        {"fingerprint": normal, "subject": row.subject, "restart_pending": restart},
    )
    await store.notify("config", f"trust store {name}")


async def _tomcat_changed(
    store: Store, node_name: str, action: str, chain: Sequence[x509.Certificate]
) -> CertificateInfo:
    await store.node_services.mark_restart_pending([node_name], TOMCAT_RESTART)
    leaf = chain[0]
    await audit(
        store,
        action,
        _OBJECT,
        "tomcat",
        {
            "node": node_name,
            "fingerprint": fingerprint_sha256(leaf),
            "subject": leaf.subject.rfc4514_string(),
            "issuer": leaf.issuer.rfc4514_string(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
        },
    )
    await store.notify("config", f"tomcat certificate {node_name}")
    return _info("tomcat", leaf, restart_pending=TOMCAT_RESTART)


async def _require_node(store: Store, node_name: str) -> None:
    if await store.nodes.get(node_name) is None:
        raise NotFound(f"server {node_name!r} is not configured")


def issue_node_certificate(
    ca: Identity, *, node_name: str, hostname: str, now: datetime
) -> Identity:
    """A new web certificate for `node_name` naming `hostname` (and localhost),
    issued by the cluster CA `ca` (PkiError when the cluster lacks its key)."""
    if ca.key_pem is None:
        raise PkiError(
            "the cluster CA is external (its key is not in the database): upload "
            f"a web certificate for {node_name} with sipoauth certificates upload-tomcat"
        )
    ca_cert = load_certs_pem(ca.chain_pem.encode("ascii"))[0]
    ca_key = load_key_pem(ca.key_pem.encode("ascii"))
    cert, key = issue_web_certificate(ca_cert, ca_key, hostname=hostname, now=now)
    return Identity(
        name=web_identity(node_name),
        chain_pem=(cert_to_pem(cert) + cert_to_pem(ca_cert)).decode("ascii"),
        key_pem=key_to_pem(key).decode("ascii"),
    )


async def _cluster_ca(store: Store) -> Identity:
    try:
        ca = await store.identities.get(CA_IDENTITY)
    except SecretRequired as exc:
        raise Conflict(str(exc)) from None
    if ca is None:
        raise NotFound("the database holds no cluster CA: run sipoauth init")
    return ca


async def regenerate_tomcat(
    store: Store, *, node_name: str, now: datetime | None = None
) -> CertificateInfo:
    """Issue node `node_name` a new web certificate and key from the cluster CA,
    naming the host of its server record, into the database; the node presents
    it from its next restart of the services that use it (restart pending).

    Refused when the cluster CA's key is not there (an external CA: upload a
    new certificate instead).
    """
    node = await store.nodes.get(node_name)
    if node is None:
        raise NotFound(f"server {node_name!r} is not configured")
    at = _now(now)
    ca = await _cluster_ca(store)
    if ca.key_pem is None:
        raise Conflict(
            "the web certificate comes from an external CA (the cluster holds no CA key): "
            "upload a new one with sipoauth certificates upload-tomcat"
        )
    try:
        identity = issue_node_certificate(ca, node_name=node_name, hostname=node.host, now=at)
        await store.identities.put(identity)
    except PkiError as exc:
        raise InvalidValue(f"cannot regenerate the web certificate: {exc}") from None
    except SecretRequired as exc:
        raise Conflict(str(exc)) from None
    chain = load_certs_pem(identity.chain_pem.encode("ascii"))
    return await _tomcat_changed(store, node_name, "regenerate", chain)


def _check_key(key: PrivateKey) -> None:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < RSA_MIN_BITS:
            raise InvalidValue(
                f"the RSA key has {key.key_size} bits: at least {RSA_MIN_BITS} are required"
            )
    elif not isinstance(key.curve, _EC_CURVES):
        raise InvalidValue("the ECDSA key must be on P-256, P-384 or P-521")


async def upload_tomcat(
    store: Store,
    *,
    node_name: str,
    cert_pem: bytes,
    key_pem: bytes,
    chain_pem: bytes | None = None,
    now: datetime | None = None,
) -> CertificateInfo:
    """Replace the node's web certificate with an uploaded one.

    The key must be the certificate's (ECDSA P-256/384/521 or RSA >= 2048
    bits); each certificate of the chain must have issued the one before it,
    starting with the certificate's issuer (no chain: the certificate is
    self-signed or issued by the cluster CA, which is then appended); none may be
    outside its validity.
    """
    await _require_node(store, node_name)
    at = _now(now)
    for what, data in (("certificate", cert_pem), ("key", key_pem), ("chain", chain_pem or b"")):
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidValue(f"the {what} file is larger than {MAX_UPLOAD_BYTES} bytes")
    try:
        certs = load_certs_pem(cert_pem)
    except PkiError:
        raise InvalidValue("the certificate file is not a PEM certificate") from None
    if len(certs) != 1:
        raise InvalidValue(
            f"the certificate file holds {len(certs)} certificates: put the leaf there "
            "and its issuers in the chain file"
        )
    leaf = certs[0]
    try:
        key = load_key_pem(key_pem)
    except PkiError as exc:
        raise InvalidValue(f"the key file: {exc}") from None
    _check_key(key)
    if key.public_key() != leaf.public_key():
        raise InvalidValue("the key does not belong to the certificate")
    chain: list[x509.Certificate] = []
    if chain_pem:
        try:
            chain = load_certs_pem(chain_pem)
        except PkiError:
            raise InvalidValue("the chain file is not a PEM certificate chain") from None
    elif not issued_by(leaf, leaf):
        ca_row = await store.identities.get(CA_IDENTITY, with_key=False)
        ca = [] if ca_row is None else load_certs_pem(ca_row.chain_pem.encode("ascii"))
        if not ca or not issued_by(leaf, ca[0]):
            raise InvalidValue(
                "the chain of the certificate's issuer is missing: give it with --chain"
            )
        chain = ca[:1]
    for child, parent in zip([leaf, *chain], chain, strict=False):
        if not issued_by(child, parent):
            raise InvalidValue(
                f"the chain does not lead to the certificate's issuer: "
                f"{parent.subject.rfc4514_string()!r} did not issue "
                f"{child.subject.rfc4514_string()!r}"
            )
    _check_validity(leaf, at, "the certificate")
    for cert in chain:
        _check_validity(cert, at, "chain certificate")
    identity = Identity(
        name=web_identity(node_name),
        chain_pem=b"".join(cert_to_pem(cert) for cert in (leaf, *chain)).decode("ascii"),
        key_pem=key_to_pem(key).decode("ascii"),
    )
    try:
        await store.identities.put(identity)
    except SecretRequired as exc:
        raise Conflict(str(exc)) from None
    return await _tomcat_changed(store, node_name, "upload", (leaf, *chain))
