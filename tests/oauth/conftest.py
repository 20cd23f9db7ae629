"""Shared keys and a verifier for the oauth tests (keys are made once per run)."""

from __future__ import annotations

from typing import Any

import pytest
from oauth_forge import AUDIENCE, ISSUER, LIFETIME, NOW, MintFn

from sipoauth.oauth import (
    AccessTokenVerifier,
    EncryptionKey,
    KeyRing,
    SigningKey,
    mint_access_token,
)


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="session")
def encryption_key() -> EncryptionKey:
    return EncryptionKey.generate(lambda n: bytes(range(n)))


@pytest.fixture(scope="session")
def ring(signing_key: SigningKey, encryption_key: EncryptionKey) -> KeyRing:
    return KeyRing([signing_key], [encryption_key])


@pytest.fixture(scope="session")
def other_ring() -> KeyRing:
    """Another cluster's keys."""
    return KeyRing([SigningKey.generate()], [EncryptionKey.generate()])


@pytest.fixture
def verifier(ring: KeyRing) -> AccessTokenVerifier:
    return AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def mint(ring: KeyRing) -> MintFn:
    """``mint(**overrides)``: a valid token from ``ring`` at NOW."""

    def _mint(keys: KeyRing | None = None, **overrides: Any) -> str:
        args: dict[str, Any] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "subject": "jdoe",
            "client_id": "CSFJDOE",
            "scope": "sip:register config:read",
            "sid": "grant-1",
            "now": NOW,
            "lifetime": LIFETIME,
        }
        args.update(overrides)
        return mint_access_token(keys or ring, **args)

    return _mint
