"""Certificate path validation outside a TLS handshake.

For requests whose client certificate is checked by the application rather
than by the handshake (edge-originated HTTPS), using cryptography's RFC 5280
path builder (``cryptography.x509.verification``, available since 42).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ._ca import utc
from ._errors import ChainVerificationError

__all__ = ["verify_chain"]

# The web-PKI profile (CA/B Forum) with two relaxations common on premises,
# where OpenSSL in the TLS handshake accepts them too: a client certificate may
# lack subjectAltName or mark it critical (its CN is then the name matched
# against the edge entries), and its extendedKeyUsage may be critical. The EKU
# must still allow clientAuth. Everything else — CA basic constraints, key
# usage, validity, signatures, path length — is checked as for the web.


def _eku_allows_client(
    policy: Policy, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    if eku is None:
        return  # no EKU: not restricted (RFC 5280 §4.2.1.12)
    if (
        policy.extended_key_usage not in eku
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
    ):
        raise ValueError("extendedKeyUsage does not allow clientAuth")


_EE_POLICY = (
    ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _eku_allows_client)
)
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()


def verify_chain(
    leaf_der: bytes,
    intermediates: Sequence[bytes],
    trust: Sequence[x509.Certificate],
    now: datetime,
) -> None:
    """Raise :class:`ChainVerificationError` unless ``leaf_der`` chains to ``trust``.

    Client policy: the leaf must allow clientAuth (if it has an EKU), every
    certificate must be valid at ``now``, CA certificates must be CAs. Names
    are not checked here — that is :func:`match_edge`'s job.
    """
    if not trust:
        raise ChainVerificationError("the trust store is empty")
    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
        chain = [x509.load_der_x509_certificate(der) for der in intermediates]
    except ValueError as exc:
        raise ChainVerificationError("certificate could not be parsed") from exc
    verifier = (
        PolicyBuilder()
        .store(Store(list(trust)))
        .time(utc(now))
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, chain)
    except VerificationError as exc:
        raise ChainVerificationError(f"certificate chain not trusted: {exc}") from exc
