"""Constants shared by the PKI tests (imported by name; conftest.py is not importable
unambiguously when several test folders have one)."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

#: Fixed issuing time for deterministic checks (TLS tests use the real clock,
#: because OpenSSL checks validity against it).
FIXED_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: A CA certificate and its key, as ``generate_ca`` returns them.
CA = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
