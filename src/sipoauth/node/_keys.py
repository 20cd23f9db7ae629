"""The cluster's authz keys and token identifiers, as stored in the database."""

from __future__ import annotations

from dataclasses import dataclass

from sipoauth.admin import _settings as keys_
from sipoauth.oauth import EncryptionKey, KeyRing, SigningKey
from sipoauth.store import Store


@dataclass(frozen=True, slots=True)
class TokenContext:
    """What minting and verifying this cluster's access tokens needs."""

    keys: KeyRing
    issuer: str
    audience: str


async def load_keyring(store: Store) -> KeyRing:
    """The active authz signing and encryption keys (current first)."""
    signing = [SigningKey.from_pem(k.material) for k in await store.keys.active("authz-signing")]
    encryption = [
        EncryptionKey.from_base64(k.material) for k in await store.keys.active("authz-encryption")
    ]
    if not signing or not encryption:
        raise RuntimeError("the authz keys are missing: run `sipoauth init` first")
    return KeyRing(signing, encryption)


async def token_context(store: Store) -> TokenContext:
    """Keys, issuer and audience of this cluster's access tokens."""
    settings = await store.settings.get_many([keys_.CLUSTER_ID, keys_.ISSUER])
    if keys_.CLUSTER_ID not in settings or keys_.ISSUER not in settings:
        raise RuntimeError("the cluster is not initialised: run `sipoauth init` first")
    return TokenContext(
        keys=await load_keyring(store),
        issuer=str(settings[keys_.ISSUER]),
        audience=keys_.audience_for(str(settings[keys_.CLUSTER_ID])),
    )
