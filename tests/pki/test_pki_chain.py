"""verify_chain: RFC 5280 path validation outside a handshake (client policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from pki_support import CA, FIXED_NOW

from sipoauth.pki import (
    ChainVerificationError,
    PkiError,
    generate_ca,
    issue_client_certificate,
    issue_server_certificate,
    verify_chain,
)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_own_client_certificate(node_ca: CA) -> None:
    cert, _ = issue_client_certificate(*node_ca, common_name="expc.example.com", now=FIXED_NOW)
    verify_chain(der(cert), [], [node_ca[0]], FIXED_NOW)


def test_web_certificate_also_usable_as_client(node_ca: CA) -> None:
    cert, _ = issue_server_certificate(
        *node_ca, common_name="n", dns_names=["n"], ip_addresses=[], now=FIXED_NOW
    )
    verify_chain(der(cert), [], [node_ca[0]], FIXED_NOW)


def test_foreign_ca_refused(node_ca: CA) -> None:
    other = generate_ca("other", now=FIXED_NOW)
    cert, _ = issue_client_certificate(*other, common_name="x.example.com", now=FIXED_NOW)
    with pytest.raises(ChainVerificationError) as info:
        verify_chain(der(cert), [], [node_ca[0]], FIXED_NOW)
    assert isinstance(info.value, PkiError)


def test_validity_checked(node_ca: CA) -> None:
    cert, _ = issue_client_certificate(*node_ca, common_name="x", now=FIXED_NOW, days=10)
    with pytest.raises(ChainVerificationError, match="not valid"):
        verify_chain(der(cert), [], [node_ca[0]], FIXED_NOW + timedelta(days=11))


def test_server_only_eku_refused(node_ca: CA) -> None:
    ca_cert, ca_key = node_ca
    key = ec.generate_private_key(ec.SECP256R1())
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=server-only"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(FIXED_NOW - timedelta(days=1))
        .not_valid_after(FIXED_NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    with pytest.raises(ChainVerificationError, match="clientAuth"):
        verify_chain(der(cert), [], [ca_cert], FIXED_NOW)


def test_foreign_style_chain_with_intermediate() -> None:
    """trustme certificates (critical SAN and EKU) through an intermediate CA."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("expc.example.com")
    certs = [x509.load_pem_x509_certificate(p.bytes()) for p in leaf.cert_chain_pems]
    trust = [x509.load_pem_x509_certificate(root.cert_pem.bytes())]
    now = datetime.now(UTC)
    verify_chain(der(certs[0]), [der(c) for c in certs[1:]], trust, now)
    with pytest.raises(ChainVerificationError):
        verify_chain(der(certs[0]), [], trust, now)  # intermediate missing


def test_bad_input() -> None:
    with pytest.raises(ChainVerificationError, match="empty"):
        verify_chain(b"", [], [], FIXED_NOW)
    root = generate_ca("r", now=FIXED_NOW)[0]
    with pytest.raises(ChainVerificationError, match="parsed"):
        verify_chain(b"garbage", [], [root], FIXED_NOW)
