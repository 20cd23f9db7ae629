"""Access-token mint/verify: the format and every rejection.

References: RFC 9068 (JWT access tokens) §2 format, §4 validation; RFC 8725
(JWT BCP) §2 threats, §3 practices; RFC 7516/7518 for the JWE parts.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe as jose_jwe
from joserfc import jws as jose_jws
from joserfc.jwk import OctKey
from oauth_forge import (
    AUDIENCE,
    ISSUER,
    LIFETIME,
    NOW,
    MintFn,
    b64url,
    claims,
    jwe,
    jws,
    open_jwe,
    unb64url,
)

from sipoauth.oauth import (
    SCOPE_CONFIG_READ,
    SCOPE_SIP_REGISTER,
    AccessTokenVerifier,
    EncryptionKey,
    InvalidToken,
    KeyRing,
    OAuthError,
    SigningKey,
    has_scope,
)


def rejected(verifier: AccessTokenVerifier, token: str, now: float = NOW) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token, now)
    error = info.value
    assert isinstance(error, OAuthError)
    assert error.error == "invalid_token"
    # Descriptions are safe: no part of the token is ever echoed.
    for part in token.split("."):
        if len(part) >= 8:
            assert part not in error.description
    return error


def inner_header(ring: KeyRing, **changes: Any) -> dict[str, Any]:
    header = {"alg": "RS256", "typ": "at+jwt", "kid": ring.current_signing.kid}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not ...}


def forged(ring: KeyRing, header: dict[str, Any], payload: Any, key: Any) -> str:
    """Sign ``payload`` as told, then encrypt properly with the ring's key."""
    return jwe(jws(header, payload, key), ring.current_encryption)


# --- round trip and format -------------------------------------------------


def test_round_trip(verifier: AccessTokenVerifier, mint: MintFn) -> None:
    """RFC 9068 §2.2: the claims minted are the claims verified."""
    token = mint(extra={"auth_time": int(NOW) - 5})
    got = verifier.verify(token, NOW + 1)
    assert got.subject == "jdoe"
    assert got.client_id == "CSFJDOE"
    assert got.sid == "grant-1"
    assert got.scope == frozenset({SCOPE_SIP_REGISTER, SCOPE_CONFIG_READ})
    assert has_scope(got, SCOPE_SIP_REGISTER)
    assert not has_scope(got, "admin")
    assert got.issued_at == int(NOW)
    assert got.expires_at == int(NOW) + LIFETIME
    assert got.not_before is None
    assert len(got.jti) == 22  # 128 bits, base64url
    # Only what the node acts on is kept (an extra claim such as auth_time is not),
    # read-only.
    assert not hasattr(got, "claims") and not hasattr(got, "__dict__")
    with pytest.raises(AttributeError):
        got.subject = "mallory"  # type: ignore[misc]


def test_format_is_nested_jws_in_jwe(ring: KeyRing, mint: MintFn) -> None:
    """RFC 9068 §2.1 header, RFC 7519 §5.2 nesting; readable by another JOSE library."""
    token = mint(jti="fixed-jti")
    outer = jose_jwe.decrypt_compact(
        token, ring.current_encryption.jose_key, algorithms=["dir", "A256GCM"]
    )
    assert outer.protected == {
        "alg": "dir",
        "enc": "A256GCM",
        "cty": "JWT",
        "kid": ring.current_encryption.kid,
    }
    assert outer.plaintext is not None
    inner = jose_jws.deserialize_compact(
        outer.plaintext, ring.current_signing.jose_key, algorithms=["RS256"]
    )
    assert inner.protected == {"alg": "RS256", "typ": "at+jwt", "kid": ring.current_signing.kid}
    assert inner.payload is not None
    body = json.loads(inner.payload)
    assert set(body) == {"iss", "aud", "sub", "client_id", "iat", "exp", "jti", "scope", "sid"}
    assert body["jti"] == "fixed-jti"
    assert body["scope"] == "sip:register config:read"


def test_jti_is_random(mint: MintFn, verifier: AccessTokenVerifier) -> None:
    assert verifier.verify(mint(), NOW).jti != verifier.verify(mint(), NOW).jti


@pytest.mark.parametrize("subject", ["a", "ab", "abc", "abcd", "é" * 7])
def test_round_trip_every_base64_length(
    verifier: AccessTokenVerifier, mint: MintFn, subject: str
) -> None:
    """Every base64url residue (RFC 7515 §2, no padding) decodes."""
    assert verifier.verify(mint(subject=subject), NOW).subject == subject


def test_mint_rejects_misuse(mint: MintFn) -> None:
    with pytest.raises(ValueError, match="extra"):
        mint(extra={"sub": "other"})
    with pytest.raises(ValueError, match="subject"):
        mint(subject="")
    with pytest.raises(ValueError, match="lifetime"):
        mint(lifetime=0)


def test_mint_normalises_scope(verifier: AccessTokenVerifier, mint: MintFn, ring: KeyRing) -> None:
    token = mint(scope="  sip:register  sip:register config:read ")
    assert verifier.verify(token, NOW).scope == {SCOPE_SIP_REGISTER, SCOPE_CONFIG_READ}
    outer = jose_jwe.decrypt_compact(
        token, ring.current_encryption.jose_key, algorithms=["dir", "A256GCM"]
    )
    assert outer.plaintext is not None
    inner = jose_jws.deserialize_compact(
        outer.plaintext, ring.current_signing.jose_key, algorithms=["RS256"]
    )
    assert inner.payload is not None
    assert json.loads(inner.payload)["scope"] == "sip:register config:read"


def test_audience_list(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 7519 §4.1.3: aud may be an array; ours must be in it."""
    token = forged(
        ring, inner_header(ring), claims(aud=["other", AUDIENCE]), signing_key.private_key
    )
    assert verifier.verify(token, NOW).subject == "jdoe"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_typ_variants_accepted(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any, typ: str
) -> None:
    """RFC 9068 §4: ``at+jwt`` or ``application/at+jwt`` (media types are case-insensitive)."""
    token = forged(ring, inner_header(ring, typ=typ), claims(), signing_key.private_key)
    assert verifier.verify(token, NOW).subject == "jdoe"


def test_es256_configuration(ring: KeyRing, mint: MintFn) -> None:
    """An ES256 ring verifies with an ES256 verifier, which refuses RS256 tokens."""
    es_ring = KeyRing([SigningKey.generate("ES256")], ring.encryption)
    es_verifier = AccessTokenVerifier(es_ring, issuer=ISSUER, audience=AUDIENCE, algorithm="ES256")
    assert es_verifier.verify(mint(keys=es_ring), NOW).subject == "jdoe"
    assert rejected(es_verifier, mint()).reason == "jws_alg"


def test_verifier_configuration_errors(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE, algorithm="HS256")
    with pytest.raises(ValueError, match="no ES256 signing key"):
        AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE, algorithm="ES256")
    with pytest.raises(ValueError):
        AccessTokenVerifier(ring, issuer="", audience=AUDIENCE)


# --- signature -------------------------------------------------------------


def test_forged_signature(verifier: AccessTokenVerifier, ring: KeyRing, mint: MintFn) -> None:
    """RFC 8725 §3.2: flip one signature byte, re-encrypt with the right key."""
    header, payload, signature = open_jwe(mint(), ring.current_encryption).split(b".")
    sig = bytearray(unb64url(signature.decode()))
    sig[10] ^= 0x01
    inner = header + b"." + payload + b"." + b64url(bytes(sig)).encode()
    error = rejected(verifier, jwe(inner, ring.current_encryption))
    assert error.reason == "bad_signature"


def test_other_rsa_key_same_kid(verifier: AccessTokenVerifier, ring: KeyRing) -> None:
    """RFC 8725 §3.10: a kid only selects a key; the signature must still verify."""
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error = rejected(verifier, forged(ring, inner_header(ring), claims(), impostor))
    assert error.reason == "bad_signature"


def test_claims_not_read_before_signature(verifier: AccessTokenVerifier, ring: KeyRing) -> None:
    """RFC 8725 §3.2: an unauthenticated token fails on its signature, whatever it claims."""
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = forged(ring, inner_header(ring), claims(exp=1, iss="x", sub=5), impostor)
    assert rejected(verifier, token).reason == "bad_signature"


def test_alg_none(verifier: AccessTokenVerifier, ring: KeyRing) -> None:
    """RFC 8725 §2.1 / §3.1: an unsigned inner JWS is refused even if well encrypted."""
    error = rejected(verifier, forged(ring, inner_header(ring, alg="none"), claims(), None))
    assert error.reason == "jws_alg"


def test_hs256_with_public_key_as_secret(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: SigningKey
) -> None:
    """RFC 8725 §2.1 key confusion: HMAC keyed with the RSA public key PEM."""
    public_pem = signing_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forged(ring, inner_header(ring, alg="HS256"), claims(), public_pem)
    assert rejected(verifier, token).reason == "jws_alg"


def test_es256_inner_refused_by_rs256_verifier(
    verifier: AccessTokenVerifier, ring: KeyRing
) -> None:
    """RFC 8725 §3.1: the algorithm is pinned by configuration, not by the token."""
    key = ec.generate_private_key(ec.SECP256R1())
    token = forged(ring, inner_header(ring, alg="ES256"), claims(), key)
    assert rejected(verifier, token).reason == "jws_alg"


def test_unknown_jws_kid(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 8725 §3.10: unknown kid refused, no other key is tried."""
    token = forged(ring, inner_header(ring, kid="not-a-kid"), claims(), signing_key.private_key)
    assert rejected(verifier, token).reason == "unknown_signing_key"
    token = forged(ring, inner_header(ring, kid=...), claims(), signing_key.private_key)
    assert rejected(verifier, token).reason == "unknown_signing_key"


@pytest.mark.parametrize("typ", [..., "JWT", "jwt", "at+jwt+x", 1])
def test_wrong_typ(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any, typ: object
) -> None:
    """RFC 9068 §4 / RFC 8725 §3.11: explicit typing separates access tokens from other JWTs."""
    token = forged(ring, inner_header(ring, typ=typ), claims(), signing_key.private_key)
    assert rejected(verifier, token).reason == "jws_typ"


def test_jws_crit_refused(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 7515 §4.1.11: we understand no extension, so any ``crit`` is refused."""
    header = inner_header(ring, crit=["exp"], exp=1)
    token = forged(ring, header, claims(), signing_key.private_key)
    assert rejected(verifier, token).reason == "jws_header"


# --- encryption layer ------------------------------------------------------


def test_bare_jws_refused(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 8898 §2.1.2 asks for encrypted tokens; a valid signed JWS alone is refused."""
    token = jws(inner_header(ring), claims(), signing_key.private_key).decode()
    assert rejected(verifier, token).reason == "not_encrypted"


def test_encrypted_but_unsigned_claims(verifier: AccessTokenVerifier, ring: KeyRing) -> None:
    """RFC 8725 §3.2: encryption is not authentication; plain claims inside the JWE fail."""
    token = jwe(json.dumps(claims()).encode(), ring.current_encryption)
    assert rejected(verifier, token).reason == "inner_malformed"


def test_other_clusters_token(
    verifier: AccessTokenVerifier, other_ring: KeyRing, mint: MintFn
) -> None:
    """Different keys, same issuer and audience: refused at the JWE kid."""
    assert rejected(verifier, mint(keys=other_ring)).reason == "unknown_encryption_key"


def test_unknown_jwe_kid(verifier: AccessTokenVerifier, ring: KeyRing, mint: MintFn) -> None:
    """RFC 8725 §3.10: an unknown encryption kid is refused; no other key is tried."""
    inner = open_jwe(mint(), ring.current_encryption)
    for kid in ("someone-else", ..., 7):
        header = {"alg": "dir", "enc": "A256GCM", "kid": kid}
        header = {k: v for k, v in header.items() if v is not ...}
        token = jwe(inner, ring.current_encryption, header=header)
        assert rejected(verifier, token).reason == "unknown_encryption_key"


@pytest.mark.parametrize("alg", ["A256KW", "RSA-OAEP", "none", "DIR", None])
def test_jwe_alg_pinned(verifier: AccessTokenVerifier, ring: KeyRing, alg: object) -> None:
    """RFC 8725 §3.1: JWE alg must be exactly ``dir``."""
    key = ring.current_encryption
    token = jwe(b"x.y.z", key, header={"alg": alg, "enc": "A256GCM", "kid": key.kid})
    assert rejected(verifier, token).reason == "jwe_alg"


@pytest.mark.parametrize("enc", ["A128GCM", "A256CBC-HS512", "a256gcm", None])
def test_jwe_enc_pinned(verifier: AccessTokenVerifier, ring: KeyRing, enc: object) -> None:
    """RFC 8725 §3.1: JWE enc must be exactly ``A256GCM``."""
    key = ring.current_encryption
    token = jwe(b"x.y.z", key, header={"alg": "dir", "enc": enc, "kid": key.kid})
    assert rejected(verifier, token).reason == "jwe_enc"


def test_joserfc_a256kw_token_refused(verifier: AccessTokenVerifier, ring: KeyRing) -> None:
    """A real JWE with key wrapping instead of ``dir`` is refused on its header."""
    token = jose_jwe.encrypt_compact(
        {"alg": "A256KW", "enc": "A256GCM", "kid": ring.current_encryption.kid},
        b"x",
        OctKey.import_key(ring.current_encryption.to_bytes()),
        algorithms=["A256KW", "A256GCM"],
    )
    assert rejected(verifier, token).reason == "jwe_alg"


@pytest.mark.parametrize("extra", [{"zip": "DEF"}, {"crit": ["x"], "x": 1}])
def test_jwe_unsupported_header(
    verifier: AccessTokenVerifier, ring: KeyRing, mint: MintFn, extra: dict[str, Any]
) -> None:
    """RFC 7516 §4.1.3 (zip) and §4.1.13 (crit) are not part of our format."""
    key = ring.current_encryption
    header = {"alg": "dir", "enc": "A256GCM", "kid": key.kid, **extra}
    token = jwe(open_jwe(mint(), key), key, header=header)
    assert rejected(verifier, token).reason == "jwe_header"


def test_jwe_structure(verifier: AccessTokenVerifier, ring: KeyRing, mint: MintFn) -> None:
    """RFC 7518 §4.5 empty encrypted key for dir; §5.3 96-bit IV and 128-bit tag."""
    key = ring.current_encryption
    inner = open_jwe(mint(), key)
    token = jwe(inner, key, encrypted_key=b"k" * 32)
    assert rejected(verifier, token).reason == "jwe_encrypted_key"
    token = jwe(inner, key, iv=b"\x01" * 16)
    assert rejected(verifier, token).reason == "jwe_iv_tag"
    h, e, iv, ct, tag = mint().split(".")
    assert rejected(verifier, ".".join([h, e, iv, ct, tag[:-6]])).reason == "jwe_iv_tag"


def test_tampered_ciphertext_and_header(
    verifier: AccessTokenVerifier, ring: KeyRing, mint: MintFn
) -> None:
    """AES-GCM authenticates ciphertext and protected header (RFC 7516 §5.2 step 14)."""
    h, e, iv, ct, tag = mint().split(".")
    flipped = ct[:5] + ("A" if ct[5] != "A" else "B") + ct[6:]
    assert rejected(verifier, ".".join([h, e, iv, flipped, tag])).reason == "decrypt_failed"
    key = ring.current_encryption
    header = json.dumps({"kid": key.kid, "enc": "A256GCM", "alg": "dir"}).encode()
    token = ".".join([b64url(header), e, iv, ct, tag])
    assert rejected(verifier, token).reason == "decrypt_failed"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "Bearer x",
        "....",
        "a.b.c.d",
        "a.b.c.d.e.f",
        "eyJ.x.y.z.w",
        "!!!!.!.!.!.!",
        "aé.b.c.d.e",
        "a+b/.c.d.e.f",
        "a=.b.c.d.e",
        "e30...AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
        b64url(b"[]") + ".." + "A" * 16 + ".." + "A" * 22,
    ],
)
def test_garbage(verifier: AccessTokenVerifier, garbage: str) -> None:
    rejected(verifier, garbage)


def test_over_long_token(verifier: AccessTokenVerifier, mint: MintFn) -> None:
    """The length limit is checked before anything else."""
    assert rejected(verifier, "a" * 8193).reason == "too_long"
    small = AccessTokenVerifier(
        verifier.keys, issuer=ISSUER, audience=AUDIENCE, max_token_length=64
    )
    assert rejected(small, mint()).reason == "too_long"


# --- claims ----------------------------------------------------------------


def test_expiry_and_leeway(verifier: AccessTokenVerifier, mint: MintFn) -> None:
    """RFC 9068 §4 step 7, RFC 7519 §4.1.4 with 30 s leeway for clock skew."""
    token = mint()
    exp = int(NOW) + LIFETIME
    assert verifier.verify(token, exp + 29).subject == "jdoe"
    fresh = AccessTokenVerifier(verifier.keys, issuer=ISSUER, audience=AUDIENCE)
    assert rejected(fresh, token, exp + 30).reason == "expired"
    strict = AccessTokenVerifier(verifier.keys, issuer=ISSUER, audience=AUDIENCE, leeway=0)
    assert rejected(strict, token, exp).reason == "expired"
    assert strict.verify(token, exp - 1).subject == "jdoe"


def test_nbf_in_future(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 7519 §4.1.5."""
    key = signing_key.private_key
    token = forged(ring, inner_header(ring), claims(nbf=int(NOW) + 31), key)
    assert rejected(verifier, token).reason == "not_yet_valid"
    token = forged(ring, inner_header(ring), claims(nbf=int(NOW) + 30), key)
    assert verifier.verify(token, NOW).not_before == int(NOW) + 30


def test_iat_in_future(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 9068 §2.2 iat; one beyond the leeway in the future is refused."""
    token = forged(ring, inner_header(ring), claims(iat=int(NOW) + 31), signing_key.private_key)
    assert rejected(verifier, token).reason == "issued_in_future"


def test_wrong_issuer(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 9068 §4 step 3 / RFC 8725 §3.8: exact issuer match."""
    for iss in ("https://evil.example.com", ISSUER + "/", ISSUER.upper()):
        token = forged(ring, inner_header(ring), claims(iss=iss), signing_key.private_key)
        assert rejected(verifier, token).reason == "issuer"


def test_wrong_audience(verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any) -> None:
    """RFC 9068 §4 step 4 / RFC 8725 §3.9."""
    for aud in ("https://other/sip", ["a", "b"]):
        token = forged(ring, inner_header(ring), claims(aud=aud), signing_key.private_key)
        assert rejected(verifier, token).reason == "audience"


@pytest.mark.parametrize(
    "name", ["iss", "aud", "exp", "iat", "sub", "client_id", "jti", "sid", "scope"]
)
def test_missing_claim(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any, name: str
) -> None:
    """RFC 9068 §2.2 required claims (plus our sid)."""
    token = forged(ring, inner_header(ring), claims(**{name: ...}), signing_key.private_key)
    error = rejected(verifier, token)
    assert error.reason == "missing_claim"
    assert name in error.description


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("iss", 1),
        ("aud", 5),
        ("aud", []),
        ("aud", [AUDIENCE, 1]),
        ("exp", "tomorrow"),
        ("exp", True),
        ("iat", None),
        ("nbf", "1"),
        ("sub", 1),
        ("sub", ""),
        ("client_id", None),
        ("jti", []),
        ("sid", {}),
        ("scope", ["sip:register"]),
    ],
)
def test_wrong_claim_type(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any, name: str, value: object
) -> None:
    """RFC 7519 §2 NumericDate / StringOrURI types."""
    token = forged(ring, inner_header(ring), claims(**{name: value}), signing_key.private_key)
    assert rejected(verifier, token).reason == "claim_type"


def test_overflowing_numeric_date(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any
) -> None:
    """``1e999`` is valid JSON but parses to infinity: not a usable NumericDate."""
    payload = json.dumps(claims(exp=12345)).replace("12345", "1e999").encode()
    token = forged(ring, inner_header(ring), payload, signing_key.private_key)
    assert rejected(verifier, token).reason == "claim_type"


def test_claims_not_an_object(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any
) -> None:
    for payload in (b"[1]", b"\xff\xfe", b"{NaN}", b'{"exp": NaN}'):
        token = forged(ring, inner_header(ring), payload, signing_key.private_key)
        assert rejected(verifier, token).reason == "malformed_claims"


def test_descriptions_are_distinct(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: SigningKey, mint: MintFn
) -> None:
    """Each check names itself: one description per reason, different across reasons."""
    key = signing_key.private_key
    enc = ring.current_encryption
    cases = {
        "too_long": "a" * 9000,
        "not_encrypted": "a.b.c",
        "malformed": "abc",
        "jwe_alg": jwe(b"", enc, header={"alg": "A256KW", "enc": "A256GCM", "kid": enc.kid}),
        "jwe_enc": jwe(b"", enc, header={"alg": "dir", "enc": "A128GCM", "kid": enc.kid}),
        "unknown_encryption_key": jwe(b"", enc, header={"alg": "dir", "enc": "A256GCM"}),
        "decrypt_failed": jwe(
            b"", b"\0" * 32, header={"alg": "dir", "enc": "A256GCM", "kid": enc.kid}
        ),
        "inner_malformed": jwe(b"{}", enc),
        "jws_alg": forged(ring, inner_header(ring, alg="none"), claims(), None),
        "jws_typ": forged(ring, inner_header(ring, typ="JWT"), claims(), key),
        "unknown_signing_key": forged(ring, inner_header(ring, kid="x"), claims(), key),
        "bad_signature": forged(
            ring, inner_header(ring), claims(), rsa.generate_private_key(65537, 2048)
        ),
        "issuer": forged(ring, inner_header(ring), claims(iss="x"), key),
        "audience": forged(ring, inner_header(ring), claims(aud="x"), key),
        "expired": forged(ring, inner_header(ring), claims(exp=1), key),
        "not_yet_valid": forged(ring, inner_header(ring), claims(nbf=2e9), key),
        "issued_in_future": forged(ring, inner_header(ring), claims(iat=2e9), key),
    }
    descriptions = {}
    for reason, token in cases.items():
        error = rejected(verifier, token)
        assert error.reason == reason
        descriptions[reason] = error.description
    assert len(set(descriptions.values())) == len(descriptions)


def test_regenerated_key_invalidates_tokens(
    ring: KeyRing, signing_key: SigningKey, mint: MintFn
) -> None:
    """Reference behaviour: ``set key regen authz …`` makes every old token fail."""
    token = mint()
    regen_signing = KeyRing([SigningKey.generate()], ring.encryption)
    verifier = AccessTokenVerifier(regen_signing, issuer=ISSUER, audience=AUDIENCE)
    assert rejected(verifier, token).reason == "unknown_signing_key"
    regen_encryption = KeyRing(ring.signing, [EncryptionKey.generate()])
    verifier = AccessTokenVerifier(regen_encryption, issuer=ISSUER, audience=AUDIENCE)
    assert rejected(verifier, token).reason == "unknown_encryption_key"


# --- decoded headers remembered (a pure function of the octets, never a verdict) ----------


def test_remembered_header_is_checked_again(
    ring: KeyRing, signing_key: SigningKey, mint: MintFn
) -> None:
    """A header segment decoded for an accepted token still goes through every check:
    once its keys leave the ring, the same header is refused."""
    token = mint()
    verifier = AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE, cache_size=0)
    assert verifier.verify(token, NOW).subject == "jdoe"
    verifier.replace_keys(KeyRing([SigningKey.generate()], ring.encryption))
    assert rejected(verifier, token).reason == "unknown_signing_key"
    verifier.replace_keys(KeyRing([signing_key], [EncryptionKey.generate()]))
    assert rejected(verifier, token).reason == "unknown_encryption_key"
    verifier.replace_keys(ring)
    assert verifier.verify(token, NOW).subject == "jdoe"
    # The same (remembered) inner header on a forged signature: still refused.
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error = rejected(verifier, forged(ring, inner_header(ring), claims(), impostor))
    assert error.reason == "bad_signature"


def test_header_memo_is_bounded(verifier: AccessTokenVerifier, ring: KeyRing) -> None:
    from sipoauth.oauth import _tokens

    for n in range(3 * _tokens._HEADER_MEMO_MAX):
        header = {"alg": "dir", "enc": "A256GCM", "kid": ring.current_encryption.kid, "n": n}
        token = jwe(b"x.y.z", ring.current_encryption, header=header)
        assert rejected(verifier, token).reason == "inner_malformed_header"
        assert len(_tokens._HEADERS) <= _tokens._HEADER_MEMO_MAX
    long_header = {"alg": "dir", "enc": "A256GCM", "kid": ring.current_encryption.kid}
    long_header["x"] = "a" * _tokens._HEADER_MEMO_MAX_LENGTH
    token = jwe(b"x.y.z", ring.current_encryption, header=long_header)
    assert rejected(verifier, token).reason == "inner_malformed_header"
    assert token.split(".")[0].encode() not in _tokens._HEADERS


@pytest.mark.parametrize(
    ("payload", "accepted"),
    [
        (b' {"x": 1} ', True),  # JSON allows whitespace around the value
        (b'\n{"x": 1}\t', True),
        (b'{"x": 1} x', False),  # but nothing else after it
        (b'{"x": 1}{}', False),
        (b'{"x": 1', False),
        (b"", False),
        (b"  ", False),
    ],
)
def test_claims_json_around_the_value(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any, payload: bytes, accepted: bool
) -> None:
    """Claims JSON is read exactly as ``json.loads`` reads it (the fast path included)."""
    body = claims()
    text = json.dumps(body).encode()
    token = forged(
        ring, inner_header(ring), payload.replace(b'{"x": 1}', text), signing_key.private_key
    )
    if accepted:
        assert verifier.verify(token, NOW).subject == body["sub"]
    else:
        assert rejected(verifier, token).reason == "malformed_claims"


def _sealed(plaintext: bytes, key: EncryptionKey, header_segment: str) -> str:
    """A dir/A256GCM JWE with this exact header segment (as AAD)."""
    iv = b"\x01" * 12
    sealed = AESGCM(key.to_bytes()).encrypt(iv, plaintext, header_segment.encode())
    return ".".join([header_segment, "", b64url(iv), b64url(sealed[:-16]), b64url(sealed[-16:])])


def test_headers_with_whitespace_around_the_value(
    verifier: AccessTokenVerifier, ring: KeyRing, signing_key: Any
) -> None:
    """Header JSON is read exactly as ``json.loads`` reads it, remembered or not."""
    inner_segment = b64url(b" " + json.dumps(inner_header(ring)).encode() + b"\n")
    signing_input = f"{inner_segment}.{b64url(json.dumps(claims()).encode())}".encode()
    signature = signing_key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    inner = signing_input + b"." + b64url(signature).encode()
    outer = {"alg": "dir", "enc": "A256GCM", "kid": ring.current_encryption.kid}
    outer_segment = b64url(b"\r\n" + json.dumps(outer).encode() + b" ")
    token = _sealed(inner, ring.current_encryption, outer_segment)
    uncached = AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE, cache_size=0)
    for _ in range(2):  # decoded, then remembered
        assert uncached.verify(token, NOW).subject == "jdoe"
    trailing = b64url(json.dumps(outer).encode() + b" x")
    token = _sealed(inner, ring.current_encryption, trailing)
    assert rejected(verifier, token).reason == "malformed_header"
