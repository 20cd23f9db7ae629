"""A small certificate authority: the node CA and the certificates it issues.

Profiles (RFC 5280 §4.2.1; ECDSA P-256 with SHA-256 throughout):

* CA — BasicConstraints ``cA`` (critical, path length 0: it issues only
  end-entity certificates), KeyUsage keyCertSign + cRLSign (critical), SKI,
  AKI = own SKI.
* web ("tomcat") certificate — BasicConstraints not-CA, KeyUsage
  digitalSignature (what ECDHE-ECDSA needs), EKU serverAuth + clientAuth (the
  node is also a TLS client of the edge), SAN DNS/IP, SKI, AKI.
* client certificate (edge simulator, tests) — the same with clientAuth first.

``notBefore`` is backdated a few minutes for peers whose clock is slightly
behind; ``notAfter`` never exceeds the issuing CA's. Time and (optionally)
keys are parameters; serial numbers are random (RFC 5280 §4.1.2.2, 159 bits).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._errors import PkiError
from ._pem import PrivateKey

__all__ = [
    "generate_ca",
    "issue_client_certificate",
    "issue_server_certificate",
    "utc",
]

#: Tolerance for peers whose clock is behind ours.
BACKDATE: Final = timedelta(minutes=5)


def utc(now: datetime) -> datetime:
    """``now`` as an aware UTC datetime (a naive value is taken to be UTC)."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    try:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    except ValueError as exc:  # e.g. empty or longer than 64 characters
        raise PkiError("common name is not usable in a certificate") from exc


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _san(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for dns in _dedupe(n.strip().lower().removesuffix(".") for n in dns_names):
        if not dns or not dns.isascii():
            raise PkiError("DNS names must be non-empty ASCII (IDNA A-labels)")
        names.append(x509.DNSName(dns))
    for text in _dedupe(ip_addresses):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(text.strip())))
        except ValueError as exc:
            raise PkiError("not an IP address") from exc
    return x509.SubjectAlternativeName(names)


def generate_ca(
    common_name: str,
    *,
    now: datetime,
    days: int = 3650,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed ECDSA P-256 CA certificate and its key."""
    key = key or _new_key()
    start = utc(now)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    common_name: str,
    san: x509.SubjectAlternativeName | None,
    usages: list[x509.ObjectIdentifier],
    now: datetime,
    days: int,
    key: ec.EllipticCurvePrivateKey | None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if ca_cert.public_key() != ca_key.public_key():
        raise PkiError("CA key does not belong to the CA certificate")
    key = key or _new_key()
    start = utc(now) - BACKDATE
    end = min(utc(now) + timedelta(days=days), ca_cert.not_valid_after_utc)
    if end <= start:
        raise PkiError("the CA certificate has expired")
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
    )
    if san is not None and len(san):
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def issue_server_certificate(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    common_name: str,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    now: datetime,
    days: int = 825,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The node's web ("tomcat") certificate: every TLS listener presents it."""
    return _issue_leaf(
        ca_cert,
        ca_key,
        common_name=common_name,
        san=_san(dns_names, ip_addresses),
        usages=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        now=now,
        days=days,
        key=key,
    )


def issue_client_certificate(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    common_name: str,
    dns_names: Sequence[str] = (),
    now: datetime,
    days: int = 825,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client certificate, e.g. the edge (Expressway-C) simulator's."""
    return _issue_leaf(
        ca_cert,
        ca_key,
        common_name=common_name,
        san=_san(dns_names, ()) if dns_names else None,
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        now=now,
        days=days,
        key=key,
    )
