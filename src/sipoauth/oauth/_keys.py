"""The cluster's two authz keys and the ring that holds them.

* :class:`SigningKey` — the *authz signing* key: RSA 2048 (``RS256``) by
  default; ECDSA P-256 (``ES256``) is supported for comparison and for a future
  switch. Each key is bound to exactly one algorithm (RFC 8725 §3.1: never let
  the token pick how a key is used).
* :class:`EncryptionKey` — the *authz encryption* key: 256 random bits used
  directly (JWE ``alg: dir``) as the A256GCM content key (RFC 7518 §4.5, §5.3).
* :class:`KeyRing` — the keys a node currently accepts; the first of each kind
  is the one new tokens use. Regenerating a key means building a new ring
  without the old key, so every token made with it stops verifying (reference
  behaviour of ``set key regen authz …``).

``kid`` values are RFC 7638 JWK thumbprints (base64url SHA-256), so they are
stable across nodes and restarts. ``key_hash()`` is what ``show key authz …``
prints; operators compare it between nodes.

Key material never appears in ``repr`` or in error descriptions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey, RSAKey

from ._errors import InvalidKey

__all__ = [
    "ENCRYPTION_KEY_BYTES",
    "SIGNING_ALGORITHMS",
    "EncryptionKey",
    "KeyRing",
    "SigningAlgorithm",
    "SigningKey",
]

SigningAlgorithm = Literal["RS256", "ES256"]
#: JWS algorithms a signing key may be bound to.
SIGNING_ALGORITHMS: Final = frozenset({"RS256", "ES256"})
#: RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
MIN_RSA_BITS: Final = 2048
#: A256GCM content key size (RFC 7518 §5.3), used directly with ``alg: dir``.
ENCRYPTION_KEY_BYTES: Final = 32
#: Domain-separation label of the encryption key's displayed hash.
_KEY_HASH_LABEL: Final = b"sipoauth key hash"

# Signature parameters, shared by every verification (they hold no state).
_PKCS1_V15: Final = padding.PKCS1v15()
_SHA256: Final = hashes.SHA256()
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())

_SigningPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_SigningPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """The *authz signing* key (private half) and its derived identifiers."""

    private_key: _SigningPrivateKey = field(repr=False, compare=False)
    """RSA (≥ 2048 bits) for ``RS256`` or EC P-256 for ``ES256``."""
    algorithm: SigningAlgorithm = "RS256"
    """The one JWS ``alg`` this key signs and verifies with."""
    kid: str = field(init=False)
    """RFC 7638 thumbprint of the public JWK (base64url SHA-256)."""
    _jose: RSAKey | ECKey = field(init=False, repr=False, compare=False)
    _public: _SigningPublicKey = field(init=False, repr=False, compare=False)
    _rsa_public: rsa.RSAPublicKey | None = field(init=False, repr=False, compare=False)
    _spki_der: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = self.private_key
        jose: RSAKey | ECKey
        if self.algorithm == "RS256":
            if not isinstance(key, rsa.RSAPrivateKey):
                raise InvalidKey("RS256 needs an RSA private key")
            if key.key_size < MIN_RSA_BITS:
                raise InvalidKey(f"RSA signing key must have at least {MIN_RSA_BITS} bits")
            jose = RSAKey.import_key(self._pkcs8(key))
        elif self.algorithm == "ES256":
            if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
                key.curve, ec.SECP256R1
            ):
                raise InvalidKey("ES256 needs an EC P-256 private key")
            jose = ECKey.import_key(self._pkcs8(key))
        else:
            raise InvalidKey("unsupported signing algorithm")
        public = key.public_key()
        spki = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        object.__setattr__(self, "_jose", jose)
        object.__setattr__(self, "_public", public)
        # Which verification applies, worked out once: isinstance() against
        # cryptography's abstract key classes is an ABC check (~0.3 µs a token).
        rsa_public = public if isinstance(public, rsa.RSAPublicKey) else None
        object.__setattr__(self, "_rsa_public", rsa_public)
        object.__setattr__(self, "_spki_der", spki)
        object.__setattr__(self, "kid", jose.thumbprint())

    @staticmethod
    def _pkcs8(key: _SigningPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def generate(cls, algorithm: SigningAlgorithm = "RS256") -> SigningKey:
        """A fresh key: RSA 2048 / e=65537 for RS256, P-256 for ES256."""
        if algorithm == "RS256":
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS))
        if algorithm == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()), "ES256")
        raise InvalidKey("unsupported signing algorithm")

    @classmethod
    def from_pem(cls, data: bytes | str) -> SigningKey:
        """Load an unencrypted PEM private key; the key type picks the algorithm."""
        try:
            raw = data.encode("ascii") if isinstance(data, str) else data
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # incl. UnicodeError
            raise InvalidKey("signing key PEM could not be loaded") from exc
        if isinstance(key, rsa.RSAPrivateKey):
            return cls(key, "RS256")
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return cls(key, "ES256")
        raise InvalidKey("signing key must be RSA or EC P-256")

    def to_pem(self) -> bytes:
        """PKCS #8 PEM, unencrypted: the caller stores it with mode 0600."""
        return self._pkcs8(self.private_key)

    @property
    def public_key(self) -> _SigningPublicKey:
        """The public half (what resource servers verify with)."""
        return self._public

    @property
    def jose_key(self) -> RSAKey | ECKey:
        """The joserfc view of this key (used to sign)."""
        return self._jose

    def public_jwk(self) -> dict[str, str]:
        """Public JWK for the JWKS document (RFC 7517 §4, ``use``/``alg``/``kid``)."""
        jwk = {k: v for k, v in self._jose.as_dict(private=False).items() if isinstance(v, str)}
        jwk.update(kid=self.kid, use="sig", alg=self.algorithm)
        return jwk

    def key_hash(self) -> str:
        """SHA-256 hex of the public key's DER SubjectPublicKeyInfo.

        What ``show key authz signing`` prints; identical on every node of a
        cluster. Public information, so a plain hash is fine here.
        """
        return hashlib.sha256(self._spki_der).hexdigest()

    def verify_signature(self, signature: bytes, signing_input: bytes) -> bool:
        """Check a JWS signature (RFC 7518 §3.3 / §3.4) made with this key.

        ES256 signatures are the fixed 64-byte ``R || S`` form, converted to
        DER for cryptography; any other length is a failure.
        """
        try:
            rsa_public = self._rsa_public
            if rsa_public is not None:
                rsa_public.verify(signature, signing_input, _PKCS1_V15, _SHA256)
            else:
                public = self._public
                assert isinstance(public, ec.EllipticCurvePublicKey)  # (not RSA: ES256)
                if len(signature) != 64:
                    return False
                der = encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
                public.verify(der, signing_input, _ECDSA_SHA256)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class EncryptionKey:
    """The *authz encryption* key: 256-bit secret for JWE ``dir`` + ``A256GCM``."""

    secret: bytes = field(repr=False, compare=False)
    """The raw 32-byte key. Never logged, never shown (see :meth:`key_hash`)."""
    kid: str = field(init=False)
    """RFC 7638 thumbprint of the ``oct`` JWK. It appears in every token header:
    for a uniformly random 256-bit key a SHA-256 thumbprint reveals nothing
    usable, but it is still not what operators are shown (:meth:`key_hash`)."""
    _jose: OctKey = field(init=False, repr=False, compare=False)
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != ENCRYPTION_KEY_BYTES:
            raise InvalidKey(f"encryption key must be exactly {ENCRYPTION_KEY_BYTES} bytes")
        try:
            jose = OctKey.import_key({"kty": "oct", "k": _b64url(self.secret)})
        except JoseError as exc:  # pragma: no cover - 32 bytes always import
            raise InvalidKey("encryption key could not be imported") from exc
        object.__setattr__(self, "_jose", jose)
        object.__setattr__(self, "_aead", AESGCM(self.secret))
        object.__setattr__(self, "kid", jose.thumbprint())

    @classmethod
    def generate(cls, rand_bytes: Callable[[int], bytes] = os.urandom) -> EncryptionKey:
        """A fresh key from ``rand_bytes`` (a CSPRNG; tests pass a fixed one)."""
        return cls(rand_bytes(ENCRYPTION_KEY_BYTES))

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptionKey:
        """Wrap 32 raw bytes."""
        return cls(bytes(data))

    def to_bytes(self) -> bytes:
        """The raw 32 bytes (for the key store; handle as a secret)."""
        return self.secret

    @classmethod
    def from_base64(cls, text: str | bytes) -> EncryptionKey:
        """Load the base64url (unpadded or padded) form written by :meth:`to_base64`."""
        try:
            clean = (text.decode("ascii") if isinstance(text, bytes) else text).strip()
            raw = base64.b64decode(clean + "=" * (-len(clean) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidKey("encryption key is not valid base64url") from exc
        return cls(raw)

    def to_base64(self) -> str:
        """base64url without padding (for the key store; handle as a secret)."""
        return _b64url(self.secret)

    @property
    def jose_key(self) -> OctKey:
        """The joserfc view of this key (used to encrypt)."""
        return self._jose

    def key_hash(self) -> str:
        """HMAC-SHA256(key, "sipoauth key hash") as hex.

        What ``show key authz encryption`` prints so nodes can be compared.
        Derived with a keyed function and a fixed label, so it is neither the
        key nor a plain hash of it (and differs from the public ``kid``).
        """
        return hmac.new(self.secret, _KEY_HASH_LABEL, hashlib.sha256).hexdigest()

    def decrypt(self, iv: bytes, ciphertext_and_tag: bytes, aad: bytes) -> bytes | None:
        """AES-256-GCM open; ``None`` when the tag does not verify."""
        try:
            return self._aead.decrypt(iv, ciphertext_and_tag, aad)
        except (InvalidTag, ValueError):
            return None


@dataclass(frozen=True)
class KeyRing:
    """The keys a node accepts; the first of each kind signs/encrypts new tokens."""

    signing: Sequence[SigningKey]
    """Signing keys, current first (stored as a tuple)."""
    encryption: Sequence[EncryptionKey]
    """Encryption keys, current first (stored as a tuple)."""
    _signing_by_kid: Mapping[str, SigningKey] = field(init=False, repr=False, compare=False)
    _encryption_by_kid: Mapping[str, EncryptionKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        signing = tuple(self.signing)
        encryption = tuple(self.encryption)
        if not signing or not encryption:
            raise InvalidKey("a key ring needs at least one signing and one encryption key")
        by_sig = {k.kid: k for k in signing}
        by_enc = {k.kid: k for k in encryption}
        if len(by_sig) != len(signing) or len(by_enc) != len(encryption):
            raise InvalidKey("a key ring must not hold the same key twice")
        object.__setattr__(self, "signing", signing)
        object.__setattr__(self, "encryption", encryption)
        object.__setattr__(self, "_signing_by_kid", by_sig)
        object.__setattr__(self, "_encryption_by_kid", by_enc)

    @property
    def current_signing(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self.signing[0]

    @property
    def current_encryption(self) -> EncryptionKey:
        """The key new tokens are encrypted with."""
        return self.encryption[0]

    def signing_key(self, kid: str) -> SigningKey | None:
        """The signing key with this ``kid``, or ``None`` (never another key)."""
        return self._signing_by_kid.get(kid)

    def encryption_key(self, kid: str) -> EncryptionKey | None:
        """The encryption key with this ``kid``, or ``None`` (never another key)."""
        return self._encryption_by_kid.get(kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWK Set of the signing keys (RFC 7517 §5)."""
        return {"keys": [k.public_jwk() for k in self.signing]}
