"""sipoauth.oauth: authz keys, access tokens and the authorization server.

Access tokens are RFC 9068 JWTs signed with the cluster's *authz signing* key
and encrypted (nested JWS-in-JWE, ``dir`` + ``A256GCM``) with its *authz
encryption* key; see ``_tokens.py`` for the verification order.
"""

from ._authlib import Exchange, OAuthResponse, Peer, Principal, TokenPolicy
from ._claims import SCOPE_CONFIG_READ, SCOPE_SIP_REGISTER, AccessClaims, has_scope
from ._clients import (
    ACTIVATION_GRANT,
    DESK_PHONE_CLIENT,
    SOFT_CLIENT_IDS,
    THIRD_PARTY_CLIENT,
    Client,
    ClientRegistry,
)
from ._errors import InvalidKey, InvalidToken, OAuthError
from ._keys import EncryptionKey, KeyRing, SigningKey
from ._secrets import hash_activation_code, hash_secret, new_activation_code
from ._service import AuthorizationService, Endpoints, SignInPage
from ._throttle import Throttle, ThrottleSettings
from ._tokens import AccessTokenVerifier, mint_access_token

__all__ = [
    "ACTIVATION_GRANT",
    "DESK_PHONE_CLIENT",
    "SCOPE_CONFIG_READ",
    "SCOPE_SIP_REGISTER",
    "SOFT_CLIENT_IDS",
    "THIRD_PARTY_CLIENT",
    "AccessClaims",
    "AccessTokenVerifier",
    "AuthorizationService",
    "Client",
    "ClientRegistry",
    "EncryptionKey",
    "Endpoints",
    "Exchange",
    "InvalidKey",
    "InvalidToken",
    "KeyRing",
    "OAuthError",
    "OAuthResponse",
    "Peer",
    "Principal",
    "SignInPage",
    "SigningKey",
    "Throttle",
    "ThrottleSettings",
    "TokenPolicy",
    "has_scope",
    "hash_activation_code",
    "hash_secret",
    "mint_access_token",
    "new_activation_code",
]
