"""Certificate profiles (RFC 5280 §4.2.1) and the PEM helpers."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pki_support import CA, FIXED_NOW

from sipoauth.pki import (
    PkiError,
    cert_to_pem,
    fingerprint_sha256,
    generate_ca,
    issue_client_certificate,
    issue_server_certificate,
    key_to_pem,
    load_cert_pem,
    load_certs_pem,
    load_key_pem,
)


def ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


def test_ca_profile(node_ca: CA) -> None:
    cert, key = node_ca
    assert isinstance(key.curve, ec.SECP256R1)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sipoauth test CA"
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert cert.not_valid_after_utc - FIXED_NOW == timedelta(days=3650)
    assert cert.not_valid_before_utc < FIXED_NOW
    cert.verify_directly_issued_by(cert)


def test_server_certificate_profile(node_ca: CA) -> None:
    ca_cert, ca_key = node_ca
    cert, key = issue_server_certificate(
        ca_cert,
        ca_key,
        common_name="cucm-pub",
        dns_names=["cucm-pub", "CUCM-PUB.example.com.", "cucm-pub"],
        ip_addresses=["192.0.2.10", "2001:db8::0:1"],
        now=FIXED_NOW,
    )
    assert isinstance(key.curve, ec.SECP256R1)
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(ca_cert)
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["cucm-pub", "cucm-pub.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.0.2.10"),
        ipaddress.ip_address("2001:db8::1"),
    ]
    eku = ext(cert, x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not ext(cert, x509.BasicConstraints).value.ca
    assert ext(cert, x509.KeyUsage).value.digital_signature
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(ca_cert, x509.SubjectKeyIdentifier).value.digest
    assert cert.not_valid_after_utc - FIXED_NOW == timedelta(days=825)


def test_client_certificate_profile(node_ca: CA) -> None:
    ca_cert, ca_key = node_ca
    cert, _ = issue_client_certificate(
        ca_cert, ca_key, common_name="expc.example.com", now=FIXED_NOW
    )
    eku = ext(cert, x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        ext(cert, x509.SubjectAlternativeName)
    with_san, _ = issue_client_certificate(
        ca_cert, ca_key, common_name="expc", dns_names=["expc.example.com"], now=FIXED_NOW
    )
    assert ext(with_san, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [
        "expc.example.com"
    ]


def test_leaf_never_outlives_its_ca(node_ca: CA) -> None:
    ca_cert, ca_key = node_ca
    late = ca_cert.not_valid_after_utc - timedelta(days=10)
    cert, _ = issue_client_certificate(ca_cert, ca_key, common_name="x", now=late)
    assert cert.not_valid_after_utc == ca_cert.not_valid_after_utc
    with pytest.raises(PkiError, match="expired"):
        issue_client_certificate(
            ca_cert, ca_key, common_name="x", now=ca_cert.not_valid_after_utc + timedelta(days=1)
        )


def test_issue_rejects_bad_input(node_ca: CA) -> None:
    ca_cert, ca_key = node_ca
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(PkiError, match="CA key"):
        issue_client_certificate(ca_cert, other_key, common_name="x", now=FIXED_NOW)
    with pytest.raises(PkiError, match="IP"):
        issue_server_certificate(
            ca_cert, ca_key, common_name="x", dns_names=[], ip_addresses=["1.2.3"], now=FIXED_NOW
        )
    with pytest.raises(PkiError, match="DNS"):
        issue_server_certificate(
            ca_cert,
            ca_key,
            common_name="x",
            dns_names=["é.example"],
            ip_addresses=[],
            now=FIXED_NOW,
        )
    with pytest.raises(PkiError, match="common name"):
        generate_ca("x" * 65, now=FIXED_NOW)


def test_naive_now_is_utc() -> None:
    cert, _ = generate_ca("naive", now=datetime(2026, 3, 1, 12, 0), days=1)
    assert cert.not_valid_after_utc == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_pem_round_trip(node_ca: CA) -> None:
    cert, key = node_ca
    assert load_cert_pem(cert_to_pem(cert)) == cert
    loaded = load_key_pem(key_to_pem(key))
    assert loaded.public_key() == key.public_key()
    assert b"BEGIN PRIVATE KEY" in key_to_pem(key)  # PKCS #8, unencrypted
    bundle = cert_to_pem(cert) + cert_to_pem(cert)
    assert load_certs_pem(bundle) == [cert, cert]
    with pytest.raises(PkiError, match="one PEM"):
        load_cert_pem(bundle)
    with pytest.raises(PkiError):
        load_certs_pem(b"not pem")
    with pytest.raises(PkiError):
        load_key_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(PkiError):
        load_key_pem(encrypted)


def test_fingerprint_as_operators_see_it(node_ca: CA) -> None:
    cert, _ = node_ca
    shown = fingerprint_sha256(cert)
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert shown.replace(":", "") == digest
    assert len(shown) == 95 and shown.count(":") == 31
