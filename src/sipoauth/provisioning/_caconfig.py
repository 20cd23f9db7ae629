"""`caconfig.json`: the phone-edge-trust bundle phones fetch from 6970 (R3).

A phone that has never been configured cannot check the node's web
certificate yet; it fetches this bundle over plain HTTP and from then on
trusts only these certificates for HTTPS 6971 and the edge (phone-edge-trust,
at most 16). The bundle is public by nature; what a phone fetches it with
decides nothing about any device.

Format (``docs/provisioning.md``)::

    {"version": 1,
     "sha256": "<hex of SHA-256 over the certificates' DER, in the order listed>",
     "certificates": [{"subject": …, "issuer": …, "notBefore": …, "notAfter": …,
                       "sha256": "<hex fingerprint>", "pem": "-----BEGIN …"}]}

Certificates are listed by fingerprint, so the hash does not depend on the
order of upload. The device files carry the same hash, so a phone can tell
when the bundle changed.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = ["BUNDLE_MAX", "CaBundle", "TrustedCertificate", "build_bundle"]

BUNDLE_MAX: Final = 16
"""Certificates a phone takes from phone-edge-trust at most (the reference's limit)."""


@dataclass(frozen=True, slots=True)
class TrustedCertificate:
    """One phone-edge-trust certificate, as stored."""

    fingerprint: str
    """SHA-256, hex (any case, colons allowed)."""
    pem: str
    subject: str
    issuer: str
    not_before: datetime | None
    not_after: datetime


@dataclass(frozen=True, slots=True)
class CaBundle:
    """The rendered bundle."""

    body: bytes
    sha256: str
    count: int


def _hex(fingerprint: str) -> str:
    return fingerprint.replace(":", "").lower()


def build_bundle(certs: Sequence[TrustedCertificate]) -> CaBundle:
    """`caconfig.json` for the phone-edge-trust certificates (the first 16 by
    fingerprint; the admin rules refuse a 17th)."""
    chosen = sorted(certs, key=lambda c: _hex(c.fingerprint))[:BUNDLE_MAX]
    digest = hashlib.sha256()
    entries = []
    for cert in chosen:
        digest.update(ssl.PEM_cert_to_DER_cert(cert.pem))
        entries.append(
            {
                "subject": cert.subject,
                "issuer": cert.issuer,
                "notBefore": None if cert.not_before is None else cert.not_before.isoformat(),
                "notAfter": cert.not_after.isoformat(),
                "sha256": _hex(cert.fingerprint),
                "pem": cert.pem.strip() + "\n",
            }
        )
    sha256 = digest.hexdigest()
    body = json.dumps({"version": 1, "sha256": sha256, "certificates": entries}, indent=2).encode()
    return CaBundle(body + b"\n", sha256, len(entries))
