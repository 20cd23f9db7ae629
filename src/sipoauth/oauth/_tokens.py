"""Minting and verifying access tokens (DESIGN.md "Tokens").

Format: an RFC 9068 JWT access token — JWS header ``{"alg": "RS256", "typ":
"at+jwt", "kid": <signing kid>}`` — nested in a JWE (RFC 7519 §5.2, ``cty:
"JWT"``) with ``{"alg": "dir", "enc": "A256GCM", "kid": <encryption kid>}``,
as RFC 8898 §2.1.2 asks of tokens carried in SIP.

Theory of operation of :meth:`AccessTokenVerifier.verify` — every check raises
:class:`InvalidToken` with its own description, in this order:

1. length limit (before any parsing or hashing work);
2. compact JWE shape: exactly 5 base64url parts — a 3-part JWS is refused,
   never accepted unencrypted;
3. JWE protected header, read only for ``alg``/``enc``/``kid``: ``alg`` must be
   exactly ``dir`` and ``enc`` exactly ``A256GCM`` (pinned here, RFC 8725 §3.1,
   not taken from the token); ``kid`` must name a key of the ring — an unknown
   ``kid`` is refused, no other key is tried;
4. ``crit``/``zip`` refused, empty encrypted key, 96-bit IV, 128-bit tag
   (RFC 7516 §5.2, RFC 7518 §4.5, §5.3); then AES-GCM decryption with the JWE
   header segment as AAD;
5. nested JWS header: ``alg`` equal to the configured algorithm (so ``none``,
   ``HS256`` with the RSA public key as secret, ``ES256``… are refused — RFC 8725
   §2.1, §3.1), ``typ`` ``at+jwt`` (RFC 9068 §4, RFC 8725 §3.11), ``kid`` a
   signing key of the ring bound to that algorithm; signature check;
6. only then the claims (:func:`check_claims`).

Measured reason for doing the crypto with ``cryptography`` directly (this is
the one place we do not call joserfc), ``bench/tokens.py`` on the development
machine: ``joserfc.jwe.decrypt_compact`` + ``joserfc.jws.deserialize_compact``
take ~70 µs *without* any claim checks, of which the RSA-2048 verify is
~20 µs and the AES-GCM open <1 µs — joserfc's pure-Python overhead (eight
``base64.b64decode`` calls, header-registry walks, object construction, ~49 µs)
dominates. The path below does the same checks and more (pinned headers,
``typ``, claims) in ~42 µs (``bench/core.py --fresh`` (d); of which ~20 µs
RSA and ~7 µs base64 decoding; the headers' JSON is decoded once per process,
see :func:`_json_header`). joserfc still does what it does well: JWK
thumbprints and export, and minting, so every token we verify was produced by
an independent JOSE implementation (the tests also decrypt ours with joserfc).
"""

from __future__ import annotations

import binascii
import json
import secrets
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from joserfc import jwe, jws
from joserfc.errors import JoseError

from ._cache import VerificationCache
from ._claims import REGISTERED_CLAIMS, AccessClaims, check_claims
from ._errors import InvalidToken, OAuthError
from ._keys import SIGNING_ALGORITHMS, EncryptionKey, KeyRing, SigningKey

__all__ = ["AccessTokenVerifier", "mint_access_token"]

#: JWS ``typ`` of an access token (RFC 9068 §2.1); compared case-insensitively.
ACCESS_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
JWE_ALG: Final = "dir"
JWE_ENC: Final = "A256GCM"
_IV_BYTES: Final = 12  # RFC 7518 §5.3: 96-bit IV
_TAG_BYTES: Final = 16  # RFC 7518 §5.3: 128-bit tag

_JWE_REGISTRY: Final = jwe.JWERegistry(algorithms=[JWE_ALG, JWE_ENC])
_JWS_REGISTRIES: Final = {alg: jws.JWSRegistry(algorithms=[alg]) for alg in SIGNING_ALGORITHMS}
_NO_EXTRA: Final[Mapping[str, object]] = MappingProxyType({})

# Compact serialisations use only the base64url alphabet and dots (RFC 7515
# §7.1, RFC 7516 §7.1); ``bytes.translate`` deleting these leaves b"" exactly
# when that holds (a C loop, ~5x faster than an equivalent regex here).
_COMPACT_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def _reject_constant(name: str) -> object:
    raise ValueError("non-standard JSON constant")


# One decoder for all tokens: RFC 8259 JSON only (no NaN/Infinity).
_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant)
# (Set by JSONDecoder.__init__, not in the type stubs: raises StopIteration when
# no value starts at the index.)
_JSON_SCAN: Final[Callable[[str, int], tuple[object, int]]] = _JSON.scan_once  # type: ignore[attr-defined]
# Decoded JOSE headers by segment (see _json_header): at most this many, each
# segment at most this long (ours are ~120 octets).
_HEADERS: Final[dict[bytes, dict[str, object]]] = {}
_HEADER_MEMO_MAX: Final = 64
_HEADER_MEMO_MAX_LENGTH: Final = 512
_URLSAFE_TO_STD: Final = bytes.maketrans(b"-_", b"+/")
# Allowed last character when 1 / 2 pad characters are missing: its unused low
# 2 / 4 bits must be zero, so each byte string has exactly one encoding.
_CANONICAL_LAST: Final = (frozenset(b"AEIMQUYcgkosw048"), frozenset(b"AQgw"))


def _b64(segment: bytes) -> bytes | None:
    """Strict unpadded base64url (RFC 7515 §2) of an already charset-checked segment.

    Same rules as ``joserfc.util.urlsafe_b64decode`` (no padding, canonical
    trailing bits), without its ``base64`` module overhead.
    """
    pad = -len(segment) % 4
    if pad == 3 or (pad and segment[-1] not in _CANONICAL_LAST[pad - 1]):
        return None
    try:
        return binascii.a2b_base64(
            segment.translate(_URLSAFE_TO_STD) + b"=" * pad, strict_mode=True
        )
    except binascii.Error:
        return None


def _json_object(segment: bytes) -> dict[str, object] | None:
    """Decode a base64url JSON object strictly (UTF-8, no NaN); ``None`` if not."""
    raw = _b64(segment)
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
        # The decoder's C scanner straight away: a value that starts at the first
        # character and ends at the last is what ``decode`` returns, without its
        # Python wrapper (which only skips whitespace around the value; ~0.7 µs a
        # call). Anything else takes ``decode``, errors included.
        try:
            value, end = _JSON_SCAN(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            value = _JSON.decode(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _json_header(segment: bytes) -> dict[str, object] | None:
    """:func:`_json_object` of a JOSE header segment, remembered by its exact octets.

    Decoding is a pure function of the octets, and every token a cluster issues
    carries one of a few header segments (one per key), so a never-seen token
    decodes only its claims (measured: ~4 µs less per cold verification). What
    is remembered is the decoded JSON, never a verdict: every check of the
    header still runs on every token. Only successful decodes are kept; the
    dicts are shared, so callers only read them.
    """
    header = _HEADERS.get(segment)
    if header is None:
        header = _json_object(segment)
        if header is not None and len(segment) <= _HEADER_MEMO_MAX_LENGTH:
            if len(_HEADERS) >= _HEADER_MEMO_MAX:
                _HEADERS.clear()  # bounded: the segments are the peer's
            _HEADERS[segment] = header
    return header


def mint_access_token(
    keys: KeyRing,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scope: str,
    sid: str,
    now: float,
    lifetime: int,
    jti: str | None = None,
    extra: Mapping[str, object] = _NO_EXTRA,
) -> str:
    """Make an access token (compact JWE) with the ring's current keys.

    ``iat`` is ``int(now)`` and ``exp`` is ``iat + lifetime``; ``jti`` defaults
    to 128 random bits, base64url. ``extra`` adds claims (e.g. RFC 9068 §2.2.1
    ``auth_time``) but may not override the registered ones. Misuse (empty
    identifiers, non-positive lifetime, clashing extras) raises ``ValueError``.
    """
    for name, value in (
        ("issuer", issuer),
        ("audience", audience),
        ("subject", subject),
        ("client_id", client_id),
        ("sid", sid),
    ):
        if not value:
            raise ValueError(f"{name} must not be empty")
    if lifetime <= 0:
        raise ValueError("lifetime must be positive")
    clash = REGISTERED_CLAIMS.intersection(extra)
    if clash:
        raise ValueError(f"extra claims may not set {sorted(clash)}")
    issued_at = int(now)
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": client_id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": jti if jti is not None else secrets.token_urlsafe(16),
        "scope": " ".join(dict.fromkeys(s for s in scope.split(" ") if s)),
        "sid": sid,
        **extra,
    }
    signing = keys.current_signing
    encryption = keys.current_encryption
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    try:
        inner = jws.serialize_compact(
            {"alg": signing.algorithm, "typ": "at+jwt", "kid": signing.kid},
            payload,
            signing.jose_key,
            registry=_JWS_REGISTRIES[signing.algorithm],
        )
        return jwe.encrypt_compact(
            {"alg": JWE_ALG, "enc": JWE_ENC, "cty": "JWT", "kid": encryption.kid},
            inner,
            encryption.jose_key,
            registry=_JWE_REGISTRY,
        )
    except JoseError as exc:  # pragma: no cover - our own keys and headers
        raise OAuthError("access token could not be made") from exc


class AccessTokenVerifier:
    """Verifies access tokens for one issuer/audience; caches successes.

    Sans-IO: ``now`` (epoch seconds) is passed to :meth:`verify`. Limits are
    constructor arguments: ``leeway`` (seconds of clock skew tolerated on
    ``exp``/``nbf``/``iat``), ``cache_size`` (0 disables the cache),
    ``max_token_length`` (characters).
    """

    __slots__ = (
        "_algorithm",
        "_audience",
        "_cache",
        "_encryption",
        "_issuer",
        "_keys",
        "_leeway",
        "_max_length",
        "_signing",
    )

    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        algorithm: str = "RS256",
        leeway: int = 30,
        cache_size: int = 100_000,
        max_token_length: int = 8192,
    ) -> None:
        if algorithm not in SIGNING_ALGORITHMS:
            raise ValueError(f"unsupported token algorithm {algorithm!r}")
        if not issuer or not audience:
            raise ValueError("issuer and audience must not be empty")
        if leeway < 0 or max_token_length <= 0:
            raise ValueError("leeway must be >= 0 and max_token_length > 0")
        self._algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._max_length = max_token_length
        self._cache: VerificationCache[AccessClaims] = VerificationCache(cache_size)
        self._keys = keys
        self._signing: dict[str, SigningKey] = {}
        self._encryption: dict[str, EncryptionKey] = {}
        self.replace_keys(keys)

    @property
    def issuer(self) -> str:
        """The ``iss`` a token must carry."""
        return self._issuer

    @property
    def keys(self) -> KeyRing:
        """The ring currently accepted."""
        return self._keys

    @property
    def cached_count(self) -> int:
        """Number of cached successful verifications (for metrics)."""
        return len(self._cache)

    def replace_keys(self, keys: KeyRing) -> None:
        """Accept exactly ``keys`` from now on and forget every cached result."""
        signing = {k.kid: k for k in keys.signing if k.algorithm == self._algorithm}
        if not signing:
            raise ValueError(f"the key ring has no {self._algorithm} signing key")
        self._keys = keys
        self._signing = signing
        self._encryption = {k.kid: k for k in keys.encryption}
        self._cache.clear()

    def verify(self, token: str, now: float) -> AccessClaims:
        """Return the token's verified claims or raise :class:`InvalidToken`."""
        if len(token) > self._max_length:
            raise InvalidToken("too_long", "token exceeds the maximum length")
        cached = self._cache.get(token, now)
        if cached is not None:
            return cached
        claims = self._verify(token, now)
        # Valid while iat/nbf and exp checks would pass: [max(iat, nbf) - leeway, exp + leeway).
        start = claims.issued_at
        if claims.not_before is not None:
            start = max(start, claims.not_before)
        self._cache.put(token, claims, start - self._leeway, claims.expires_at + self._leeway)
        return claims

    def _verify(self, token: str, now: float) -> AccessClaims:
        # 2. Shape: compact JWE only (RFC 7516 §7.1); never an unencrypted JWS.
        dots = token.count(".")
        if dots != 4:
            if dots == 2:
                raise InvalidToken("not_encrypted", "unencrypted (JWS) tokens are not accepted")
            raise InvalidToken("malformed", "token is not a compact JWE")
        raw = token.encode("ascii") if token.isascii() else b"\0"
        if raw.translate(None, _COMPACT_ALPHABET):
            raise InvalidToken("malformed", "token contains characters outside base64url")
        header_seg, key_seg, iv_seg, ct_seg, tag_seg = raw.split(b".")

        # 3. JWE protected header: alg, enc pinned; kid must be in the ring.
        header = _json_header(header_seg)
        if header is None:
            raise InvalidToken("malformed_header", "JWE header is not base64url JSON")
        if header.get("alg") != JWE_ALG:
            raise InvalidToken("jwe_alg", "JWE alg is not allowed")
        if header.get("enc") != JWE_ENC:
            raise InvalidToken("jwe_enc", "JWE enc is not allowed")
        kid = header.get("kid")
        key = self._encryption.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown_encryption_key", "JWE kid is not a current key")

        # 4. Structure for dir/A256GCM, then decrypt (AAD = header segment).
        if "crit" in header or "zip" in header:
            raise InvalidToken("jwe_header", "JWE header uses unsupported parameters")
        if key_seg:
            raise InvalidToken("jwe_encrypted_key", "JWE encrypted key must be empty (dir)")
        iv, ciphertext, tag = _b64(iv_seg), _b64(ct_seg), _b64(tag_seg)
        if iv is None or ciphertext is None or tag is None:
            raise InvalidToken("malformed", "JWE parts are not base64url")
        if len(iv) != _IV_BYTES or len(tag) != _TAG_BYTES:
            raise InvalidToken("jwe_iv_tag", "JWE IV or tag has the wrong length")
        plaintext = key.decrypt(iv, ciphertext + tag, header_seg)
        if plaintext is None:
            raise InvalidToken("decrypt_failed", "token could not be decrypted")

        # 5. Nested JWS (RFC 7519 §5.2): header checks before the signature.
        # The signature may be empty here so that an ``alg: none`` token
        # reaches, and fails, the alg check below.
        if plaintext.count(b".") != 2 or plaintext.translate(None, _COMPACT_ALPHABET):
            raise InvalidToken("inner_malformed", "decrypted content is not a compact JWS")
        jws_header_seg, payload_seg, signature_seg = plaintext.split(b".")
        jws_header = _json_header(jws_header_seg)
        if jws_header is None:
            raise InvalidToken("inner_malformed_header", "JWS header is not base64url JSON")
        if jws_header.get("alg") != self._algorithm:
            raise InvalidToken("jws_alg", "JWS alg is not allowed")
        typ = jws_header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("jws_typ", "JWS typ is not at+jwt")
        if "crit" in jws_header or "b64" in jws_header:
            raise InvalidToken("jws_header", "JWS header uses unsupported parameters")
        signing_kid = jws_header.get("kid")
        signer = self._signing.get(signing_kid) if isinstance(signing_kid, str) else None
        if signer is None:
            raise InvalidToken("unknown_signing_key", "JWS kid is not a current signing key")
        signature = _b64(signature_seg)
        if signature is None or not signer.verify_signature(
            signature, jws_header_seg + b"." + payload_seg
        ):
            raise InvalidToken("bad_signature", "token signature is not valid")

        # 6. Claims, only now that they are authentic.
        claims = _json_object(payload_seg)
        if claims is None:
            raise InvalidToken("malformed_claims", "token claims are not a JSON object")
        return check_claims(
            claims, issuer=self._issuer, audience=self._audience, now=now, leeway=self._leeway
        )
