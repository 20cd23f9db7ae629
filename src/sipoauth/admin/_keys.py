"""The cluster's authz keys: `set key regen authz …` and `show key authz …`.

Reference behaviour ("Tokens"): both commands exist for the *signing* and the
*encryption* key; regeneration runs on the publisher only, after a
confirmation, and invalidates every token; `show` prints a hash of the key that
must be the same on every node. Every node reloads its key ring when it hears
the `config` notification, so no restart is needed.

The hash shown is the key's own `key_hash()` (sipoauth.oauth): SHA-256 of the
DER SubjectPublicKeyInfo for the signing key; for the encryption key a keyed
hash (HMAC-SHA256 with a fixed label), so what operators compare is derived
from, but never is, the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sipoauth.store import Key, KeyPurpose, KeyRecord, Store

from ._audit import audit
from ._errors import NotFound, NotPublisher

__all__ = [
    "KeyInfo",
    "KeyKind",
    "new_authz_key",
    "regenerate_authz_key",
    "require_publisher",
    "show_authz_key",
]

KeyKind = Literal["signing", "encryption"]
"""The two authz keys, as the reference command line names them."""

_PURPOSES: Final[dict[KeyKind, KeyPurpose]] = {
    "signing": "authz-signing",
    "encryption": "authz-encryption",
}
SIGNING_ALG: Final = "RS256"
"""DESIGN "Tokens": access tokens are signed with RSA (RS256, 2048 bits)."""
ENCRYPTION_ALG: Final = "dir+A256GCM"
"""DESIGN "Tokens": JWE `dir` with a 256-bit A256GCM content key (RFC 7518 §4.5, §5.3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    """What `show key authz …` prints about the active key; never the key itself."""

    purpose: KeyPurpose
    """`authz-signing` or `authz-encryption`."""
    kid: str
    """The key id in token headers (RFC 7638 thumbprint)."""
    algorithm: str
    """`RS256`, or `dir+A256GCM` for the encryption key."""
    created_at: datetime
    """When the key was generated (UTC)."""
    hash: str
    """SHA-256 hex (see the module docstring); identical on every node."""


def _purpose(which: str) -> KeyPurpose:
    try:
        return _PURPOSES[which]  # type: ignore[index]
    except KeyError:
        raise NotFound(f"there is no authz {which!r} key: use signing or encryption") from None


def new_authz_key(which: KeyKind) -> Key:
    """A fresh authz key, ready to store: RSA 2048 / RS256, or 256 random bits for A256GCM.

    `sipoauth init` and `set key regen authz` both make their keys here.
    """
    from sipoauth.oauth import EncryptionKey, SigningKey  # Authlib: only when needed

    if which == "signing":
        signing = SigningKey.generate(SIGNING_ALG)
        return Key(
            kid=signing.kid,
            purpose="authz-signing",
            alg=SIGNING_ALG,
            material=signing.to_pem().decode("ascii"),
        )
    encryption = EncryptionKey.generate()
    return Key(
        kid=encryption.kid,
        purpose="authz-encryption",
        alg=ENCRYPTION_ALG,
        material=encryption.to_base64(),
    )


def _info(record: KeyRecord) -> KeyInfo:
    from sipoauth.oauth import EncryptionKey, SigningKey  # Authlib: only when needed

    if record.purpose == "authz-signing":
        digest = SigningKey.from_pem(record.material).key_hash()
    else:
        digest = EncryptionKey.from_base64(record.material).key_hash()
    return KeyInfo(
        purpose=record.purpose,
        kid=record.kid,
        algorithm=record.alg,
        created_at=record.created_at,
        hash=digest,
    )


async def require_publisher(store: Store, node_name: str, command: str) -> None:
    """Refuse `command` (NotPublisher) unless `node_name` is the publisher.

    Lets an adapter refuse before it asks for confirmation; the rules call it too.
    """
    node = await store.nodes.get(node_name)
    if node is None:
        raise NotFound(f"server {node_name!r} is not configured")
    if node.role != "publisher":
        raise NotPublisher(
            f"{command} can only be run on the publisher; {node_name} is a subscriber"
        )


async def regenerate_authz_key(store: Store, which: KeyKind, *, node_name: str) -> KeyInfo:
    """Replace the active authz `which` key with a new one (publisher only).

    Reference behaviour: regenerating a key invalidates every token. Access
    tokens stop verifying because the old key leaves every node's ring (the
    `config` notification makes nodes reload it); refresh tokens are deleted
    so no client can mint new access tokens from a grant made before.
    """
    purpose = _purpose(which)
    await require_publisher(store, node_name, f"set key regen authz {which}")
    record = await store.keys.replace(purpose, new_authz_key(which))
    revoked = await store.refresh_tokens.delete_all()
    info = _info(record)
    # Never the key: its id and the hash `show key authz` prints.
    await audit(
        store,
        "regenerate",
        "authz-key",
        which,
        {"kid": info.kid, "key_hash": info.hash, "refresh_tokens_revoked": revoked},
    )
    await store.notify("config", "authz keys")
    return info


async def show_authz_key(store: Store, which: KeyKind) -> KeyInfo:
    """The active authz `which` key's id, algorithm, creation time and hash."""
    purpose = _purpose(which)
    active = await store.keys.active(purpose)
    if not active:
        raise NotFound(f"there is no active authz {which} key: run `sipoauth init` first")
    return _info(active[0])
