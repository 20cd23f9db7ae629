"""sipoauth.oauth: authz keys and access tokens (endpoints come later).

Access tokens are RFC 9068 JWTs signed with the cluster's *authz signing* key
and encrypted (nested JWS-in-JWE, ``dir`` + ``A256GCM``) with its *authz
encryption* key; see ``_tokens.py`` for the verification order.
"""

from ._claims import SCOPE_CONFIG_READ, SCOPE_SIP_REGISTER, AccessClaims, has_scope
from ._errors import InvalidKey, InvalidToken, OAuthError
from ._keys import EncryptionKey, KeyRing, SigningKey
from ._tokens import AccessTokenVerifier, mint_access_token

__all__ = [
    "SCOPE_CONFIG_READ",
    "SCOPE_SIP_REGISTER",
    "AccessClaims",
    "AccessTokenVerifier",
    "EncryptionKey",
    "InvalidKey",
    "InvalidToken",
    "KeyRing",
    "OAuthError",
    "SigningKey",
    "has_scope",
    "mint_access_token",
]
