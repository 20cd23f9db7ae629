"""`caconfig.json` (issue 5 point 1; R3): the phone-edge-trust bundle, PEM and
SHA-256 fingerprint each, at most 16, hashed independently of upload order."""

from __future__ import annotations

import hashlib
import json
import ssl

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sipoauth.provisioning import BUNDLE_MAX, TrustedCertificate, build_bundle


def _cert(ca: trustme.CA) -> TrustedCertificate:
    pem = ca.cert_pem.bytes().decode()
    cert = x509.load_pem_x509_certificate(pem.encode())
    return TrustedCertificate(
        # Stored fingerprints may be upper case with colons: the bundle normalises.
        fingerprint=":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256())),
        pem=pem,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def test_bundle_lists_pem_and_fingerprint_of_each_certificate() -> None:
    certs = [_cert(trustme.CA()) for _ in range(3)]
    bundle = build_bundle(certs)
    data = json.loads(bundle.body)
    assert data["version"] == 1
    assert bundle.count == len(data["certificates"]) == 3
    for entry in data["certificates"]:
        der = ssl.PEM_cert_to_DER_cert(entry["pem"])
        assert entry["sha256"] == hashlib.sha256(der).hexdigest()
        assert entry["subject"] and entry["notAfter"]
    assert data["sha256"] == bundle.sha256


def test_bundle_hash_does_not_depend_on_upload_order_and_changes_with_content() -> None:
    certs = [_cert(trustme.CA()) for _ in range(3)]
    assert build_bundle(certs).sha256 == build_bundle(list(reversed(certs))).sha256
    assert build_bundle(certs).body == build_bundle(list(reversed(certs))).body
    assert build_bundle(certs[:2]).sha256 != build_bundle(certs).sha256


def test_bundle_holds_at_most_16() -> None:
    certs = [_cert(trustme.CA()) for _ in range(BUNDLE_MAX + 2)]
    bundle = build_bundle(certs)
    assert bundle.count == BUNDLE_MAX == len(json.loads(bundle.body)["certificates"])


def test_empty_bundle_is_valid_json() -> None:
    bundle = build_bundle([])
    assert json.loads(bundle.body) == {
        "version": 1,
        "sha256": hashlib.sha256(b"").hexdigest(),
        "certificates": [],
    }
