"""A node CA and certificates shared by the PKI tests (made once per run)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pki_support import FIXED_NOW

from sipoauth.pki import generate_ca


@pytest.fixture(scope="session")
def node_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return generate_ca("sipoauth test CA", now=FIXED_NOW)


@pytest.fixture(scope="session")
def live_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA valid by the wall clock, for handshakes."""
    return generate_ca("sipoauth live CA", now=datetime.now(UTC))
