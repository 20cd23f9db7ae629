"""The verification cache (DESIGN.md "Tokens": cached per token until expiry).

It stores successes only, honours expiry on every hit, and is emptied when the
key ring changes, so a cached "yes" never outlives what it depended on
(RFC 8725 §3.2: every cryptographic check still applies to every new token).
"""

from __future__ import annotations

import pytest
from oauth_forge import AUDIENCE, ISSUER, LIFETIME, NOW, MintFn

from sipoauth.oauth import (
    AccessTokenVerifier,
    EncryptionKey,
    InvalidToken,
    KeyRing,
    SigningKey,
)
from sipoauth.oauth._cache import VerificationCache


def test_hit_returns_same_claims(verifier: AccessTokenVerifier, mint: MintFn) -> None:
    token = mint()
    first = verifier.verify(token, NOW)
    assert verifier.cached_count == 1
    again = verifier.verify(token, NOW + 60)
    assert again is first


def test_expiry_honoured_on_hit(verifier: AccessTokenVerifier, mint: MintFn) -> None:
    token = mint()
    verifier.verify(token, NOW)
    exp = int(NOW) + LIFETIME
    assert verifier.verify(token, exp + 29).subject == "jdoe"
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token, exp + 30)
    assert info.value.reason == "expired"
    assert verifier.cached_count == 0


def test_clock_going_back_is_not_served_from_cache(
    verifier: AccessTokenVerifier, mint: MintFn
) -> None:
    token = mint()
    verifier.verify(token, NOW)
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token, NOW - 31)
    assert info.value.reason == "issued_in_future"


def test_failures_are_not_cached(ring: KeyRing, mint: MintFn) -> None:
    """A refused token is re-examined each time (here: it becomes valid later)."""
    token = mint(now=NOW + 100)  # iat 100 s ahead of the verifier's clock
    verifier = AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(InvalidToken):
        verifier.verify(token, NOW)
    assert verifier.cached_count == 0
    assert verifier.verify(token, NOW + 100).subject == "jdoe"


def test_replace_keys_invalidates(
    verifier: AccessTokenVerifier, ring: KeyRing, mint: MintFn
) -> None:
    token = mint()
    verifier.verify(token, NOW)
    new_ring = KeyRing([SigningKey.generate()], [EncryptionKey.generate()])
    verifier.replace_keys(new_ring)
    assert verifier.cached_count == 0
    assert verifier.keys is new_ring
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token, NOW)
    assert info.value.reason == "unknown_encryption_key"
    # A rollover ring that still holds the old keys accepts the token again.
    verifier.replace_keys(KeyRing([*new_ring.signing, *ring.signing], ring.encryption))
    assert verifier.verify(token, NOW).subject == "jdoe"


def test_bounded_lru(ring: KeyRing, mint: MintFn) -> None:
    verifier = AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE, cache_size=2)
    a, b, c = mint(jti="a"), mint(jti="b"), mint(jti="c")
    claims_a = verifier.verify(a, NOW)
    verifier.verify(b, NOW)
    verifier.verify(a, NOW)  # a is now the most recently used
    verifier.verify(c, NOW)  # evicts b
    assert verifier.cached_count == 2
    assert verifier.verify(a, NOW) is claims_a
    claims_b = verifier.verify(b, NOW)  # re-verified, evicts c
    assert verifier.verify(b, NOW) is claims_b


def test_cache_disabled(ring: KeyRing, mint: MintFn) -> None:
    verifier = AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE, cache_size=0)
    token = mint()
    assert verifier.verify(token, NOW) == verifier.verify(token, NOW)
    assert verifier.cached_count == 0


def test_cache_window_unit() -> None:
    cache: VerificationCache[str] = VerificationCache(10)
    cache.put("t", "v", 100.0, 200.0)
    assert cache.get("t", 99.0) is None  # dropped, not served
    cache.put("t", "v", 100.0, 200.0)
    assert cache.get("t", 100.0) == "v"
    assert cache.get("t", 199.9) == "v"
    assert cache.get("t", 200.0) is None
    assert len(cache) == 0
    with pytest.raises(ValueError):
        VerificationCache(-1)
