"""PEM in and out, and the fingerprint operators compare."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ._errors import PkiError

__all__ = [
    "PrivateKey",
    "cert_to_pem",
    "fingerprint_sha256",
    "key_to_pem",
    "load_cert_pem",
    "load_certs_pem",
    "load_key_pem",
]

#: Key types this package issues with and accepts for TLS.
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def cert_to_pem(cert: x509.Certificate) -> bytes:
    """One certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_to_pem(key: PrivateKey) -> bytes:
    """PKCS #8 PEM, unencrypted (files holding it are written with mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_certs_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in order; at least one is required."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PkiError("not a PEM certificate (bundle)") from exc
    return certs


def load_cert_pem(data: bytes) -> x509.Certificate:
    """The single certificate of a PEM file (refuses bundles)."""
    certs = load_certs_pem(data)
    if len(certs) != 1:
        raise PkiError(f"expected one PEM certificate, found {len(certs)}")
    return certs[0]


def load_key_pem(data: bytes) -> PrivateKey:
    """An unencrypted PEM private key (EC or RSA)."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiError("not an unencrypted PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError("private key must be EC or RSA")
    return key


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate as ``AB:CD:…`` (what ``openssl x509
    -fingerprint -sha256`` and browsers show)."""
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
