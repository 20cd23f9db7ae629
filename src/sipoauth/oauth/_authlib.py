"""Authlib's grant and endpoint machinery, fed with data fetched beforehand.

Theory of operation. Authlib's grants are synchronous and call back into the
application for storage (``query_authorization_code``, ``authenticate_user``,
``save_token`` …). Our store is asynchronous, so :mod:`._service` splits each
request in three:

1. *fetch* (async): look up what the request names — the authorization code
   (consumed atomically, so it is single-use even under races), the refresh
   token, the activation code, the user — and put the results on the
   request's :class:`Exchange`;
2. *decide* (sync, here): Authlib validates the request (client, grant type,
   redirect URI, PKCE, scope) and the grants below read the :class:`Exchange`
   instead of a database; tokens are minted by :meth:`_Issuer.issue`, which
   records what must be stored in ``Exchange.issued``;
3. *apply* (async): store what was issued (grant, refresh-token rotation);
   if that loses a race the response is replaced by an error.

So this module does no I/O at all and reads no clock (``Exchange.now``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    BaseGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    TokenEndpointMixin,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter

from sipoauth.store import (
    ActivationCodeRecord,
    AuthorizationCode,
    AuthorizationCodeRecord,
    RefreshTokenRecord,
)

from ._clients import ACTIVATION_GRANT, Client, ClientRegistry
from ._keys import KeyRing
from ._secrets import hash_secret, new_secret
from ._tokens import mint_access_token

__all__ = [
    "CODE_LIFETIME",
    "Exchange",
    "Issued",
    "OAuthRequest",
    "OAuthResponse",
    "Peer",
    "Principal",
    "TokenPolicy",
    "build_server",
]

# Authlib logs every token it issues at DEBUG ("Issue token {…}"): whatever the
# operator's logging configuration, its records stop at WARNING (STYLE.md rule 10).
logging.getLogger("authlib").setLevel(logging.WARNING)

CODE_LIFETIME: Final = 60
"""Seconds an authorization code lives (RFC 6749 §4.1.2: short, 10 min at most)."""


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the other end of the HTTPS connection, as TLS established it."""

    address: str
    """Client IP (for an edge: the device address it forwarded, else the edge's)."""
    via_edge: str | None = None
    """Address of the edge entry whose client certificate carried the request
    (mutual TLS, R12): the request came through Mobile and Remote Access."""
    mic_device: str | None = None
    """Device named by a manufacturer certificate (MIC) that chains to the
    callmanager-trust store, presented as the TLS client certificate."""
    client_cert: bytes | None = field(default=None, repr=False, compare=False)
    """DER of the TLS client certificate, when the client sent one (whatever it
    was classified as): the edge's certificate push reads its names from it."""
    client_chain: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    """DER of the certificates the client sent after its own (intermediates)."""

    @property
    def via_mra(self) -> bool:
        return self.via_edge is not None


@dataclass(frozen=True, slots=True)
class Principal:
    """Authlib's "user": whom the tokens are for."""

    subject: str
    """``sub``: the user id (soft clients) or the device name (desk phones)."""
    user_id: str | None
    """The end user the grant belongs to (owner of a desk phone), for revocation."""
    grant_type: str
    sid: str | None = None
    """The grant being continued (refresh), None for a new one."""
    refresh_expires_at: datetime | None = None
    """A rotated refresh token keeps its grant's absolute expiry (the user signs
    in again at the end of the refresh token's life, REFERENCE-BEHAVIOUR)."""

    def get_user_id(self) -> str:
        return self.subject


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """Lifetimes and rules from the enterprise parameters, and the keys."""

    keys: KeyRing
    issuer: str
    audience: str
    access_lifetime: int
    """Seconds (OAuth Access Token Expiry Timer)."""
    refresh_lifetime: int
    """Seconds (OAuth Refresh Token Expiry Timer)."""
    refresh_enabled: bool
    """OAuth with Refresh Login Flow."""
    implicit_devices: bool
    """OAuth Access Token for Devices = Implicit (MIC + client_credentials allowed)."""


@dataclass(frozen=True, slots=True)
class Issued:
    """What a token response handed out, for the apply step to store."""

    sid: str
    new_grant: bool
    principal: Principal
    client_id: str
    scope: str
    jti: str
    refresh_hash: str | None
    refresh_expires_at: datetime | None


@dataclass(slots=True)
class Exchange:
    """Per-request data: what *fetch* found, what *decide* produced."""

    now: float
    peer: Peer
    principal: Principal | None = None
    code: AuthorizationCodeRecord | None = None
    refresh: RefreshTokenRecord | None = None
    refusal: OAuth2Error | None = None
    """An error the fetch step decided (e.g. activation via MRA not allowed);
    raised by the grant after Authlib's client checks."""
    issued: Issued | None = None
    new_code: AuthorizationCode | None = None
    revoke_target: tuple[str, str] | None = None
    """(kind, sid) the revocation endpoint found for the presented token."""
    revoked_sid: str | None = None
    activation: ActivationCodeRecord | None = None
    """The activation code *fetch* consumed, until the tokens it was traded for
    are stored: put back if the request ends without them (a refusal after the
    code was checked, a database error), so a phone never loses a good code."""


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, data: Mapping[str, Sequence[str]]) -> None:
        self._datalist = {k: list(v) for k, v in data.items()}
        self._data = {k: v[0] for k, v in self._datalist.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class OAuthRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as Authlib sees it, carrying its :class:`Exchange`."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        data: Mapping[str, Sequence[str]],
        exchange: Exchange,
    ) -> None:
        super().__init__(method, uri, headers=dict(headers))
        self.payload = _Payload(data)
        self.exchange = exchange

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


@dataclass(slots=True)
class OAuthResponse:
    """Status, JSON body (or None) and headers of an endpoint's answer."""

    status: int
    body: dict[str, Any] | None
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        for name, value in self.headers:
            if name.lower() == "location":
                return value
        return None

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != "location"]
        self.headers.append(("Location", value))


def _exchange(request: Any) -> Exchange:
    ex = getattr(request, "exchange", None)
    if not isinstance(ex, Exchange):  # pragma: no cover - we build every request
        raise TypeError("request without exchange")
    return ex


class _Issuer:
    """Token minting shared by every grant: reads the policy, records ``Issued``."""

    request: OAuthRequest
    server: _Server

    def generate_token(
        self,
        user: Principal | None = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, object]:
        if user is None:  # pragma: no cover - every grant passes its principal
            raise InvalidGrantError()
        return self.server.issue(self.request, user, scope or "", include_refresh_token)


class _S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) required for every authorization request, ``S256`` only:
    ``plain`` — and a missing method, which RFC 7636 §4.3 defaults to plain —
    are refused (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: Final = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD: Final = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class _CodeGrant(_Issuer, AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: Final = ["none"]

    def generate_authorization_code(self) -> str:
        return new_secret()

    def save_authorization_code(self, code: str, request: OAuthRequest) -> None:
        ex = _exchange(request)
        principal = request.user
        data = request.payload.data
        now = datetime.fromtimestamp(ex.now, UTC)
        ex.new_code = AuthorizationCode(
            code_hash=hash_secret(code),
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri", ""),
            user_id=principal.subject,
            scope=request.client.get_allowed_scope(data.get("scope")),
            code_challenge=data["code_challenge"],
            code_challenge_method="S256",
            via_mra=ex.peer.via_mra,
            auth_time=now,
            expires_at=now + timedelta(seconds=CODE_LIFETIME),
        )

    def query_authorization_code(self, code: str, client: Client) -> Any:
        ex = _exchange(self.request)
        rec = ex.code
        if rec is None or rec.code_hash != hash_secret(code) or rec.client_id != client.client_id:
            return None
        if rec.expires_at.timestamp() <= ex.now:
            return None
        return _CodeView(rec)

    def delete_authorization_code(self, authorization_code: Any) -> None:
        pass  # consumed atomically by the fetch step (single use under races)

    def authenticate_user(self, authorization_code: Any) -> Principal | None:
        return _exchange(self.request).principal


@dataclass(frozen=True, slots=True)
class _CodeView:
    """An authorization code as Authlib's ``AuthorizationCodeMixin`` reads it."""

    record: AuthorizationCodeRecord

    @property
    def code_challenge(self) -> str:
        return self.record.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> int:
        return int(self.record.auth_time.timestamp())


@dataclass(frozen=True, slots=True)
class _RefreshView:
    record: RefreshTokenRecord

    def check_client(self, client: Client) -> bool:
        return self.record.client_id == client.client_id

    def get_scope(self) -> str:
        return self.record.scope


class _RefreshGrant(_Issuer, RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: Final = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN: Final = True  # rotation on every use (RFC 9700 §4.14.2)

    def authenticate_refresh_token(self, refresh_token: str) -> _RefreshView | None:
        ex = _exchange(self.request)
        if ex.refusal is not None:  # the refresh login flow is Disabled
            raise ex.refusal
        rec = ex.refresh
        if rec is None or rec.token_hash != hash_secret(refresh_token) or ex.principal is None:
            return None
        return _RefreshView(rec)

    def authenticate_user(self, refresh_token: Any) -> Principal | None:
        return _exchange(self.request).principal

    def revoke_old_credential(self, refresh_token: Any) -> None:
        pass  # the apply step rotates old → new in one transaction


class _ActivationGrant(_Issuer, BaseGrant, TokenEndpointMixin):  # type: ignore[misc]
    """Desk-phone onboarding: ``activation_code`` + ``mac`` + ``model`` (DESIGN "Grants")."""

    GRANT_TYPE: Final = ACTIVATION_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS: Final = ["none"]

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                f"The client is not authorized to use 'grant_type={self.GRANT_TYPE}'"
            )
        form = self.request.form
        for name in ("activation_code", "mac", "model"):
            if not form.get(name):
                raise InvalidRequestError(f"Missing '{name}' in request.")
        self.validate_requested_scope()
        ex = _exchange(self.request)
        if ex.refusal is not None:
            raise ex.refusal
        if ex.principal is None:
            raise InvalidGrantError("Invalid activation code")
        self.request.client = client

    def create_token_response(self) -> tuple[int, dict[str, object], list[tuple[str, str]]]:
        ex = _exchange(self.request)
        token = self.generate_token(
            user=ex.principal,
            scope=self.request.client.get_allowed_scope(self.request.payload.scope),
            include_refresh_token=True,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _MicGrant(_Issuer, ClientCredentialsGrant):  # type: ignore[misc]
    """ "Implicit" device tokens: a phone proves itself with its manufacturer
    certificate over mutual TLS (RFC 8705 §2.1 ``tls_client_auth``)."""

    TOKEN_ENDPOINT_AUTH_METHODS: Final = ["tls_client_auth"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        ex = _exchange(self.request)
        if ex.refusal is not None:
            raise ex.refusal
        if ex.principal is None:
            raise InvalidGrantError("the certificate names no phone of this cluster")

    def create_token_response(self) -> tuple[int, dict[str, object], list[tuple[str, str]]]:
        token = self.generate_token(
            user=_exchange(self.request).principal,
            scope=self.request.client.get_allowed_scope(self.request.payload.scope),
            include_refresh_token=False,  # RFC 6749 §4.4.3
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


def _tls_client_auth(query_client: Any, request: OAuthRequest) -> Client | None:
    """RFC 8705 §2.1: the client is authenticated by the TLS client certificate."""
    client = query_client(request.payload.client_id)
    if client is None or _exchange(request).peer.mic_device is None:
        return None
    return client  # type: ignore[no-any-return]


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: public clients identify themselves; revoking any token of a
    grant revokes the whole grant (§2.1: "SHOULD also invalidate")."""

    CLIENT_AUTH_METHODS: Final = ["none"]

    def check_params(self, request: OAuthRequest, client: Client) -> None:
        # §2.1: `token_type_hint` only helps the lookup and MAY be ignored; both
        # kinds are looked up anyway. (Authlib refuses a hint it does not know
        # with unsupported_token_type and HTTP 401, where RFC 6749 §5.2 says 400
        # and §2.2.1 means the token's type, not the hint's.)
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def authenticate_token(self, request: OAuthRequest, client: Client) -> Any:
        self.check_params(request, client)
        target = _exchange(request).revoke_target
        if target is None:
            return None  # unknown or invalid token: still 200 (RFC 7009 §2.2)
        token = _RevocationTarget(*target)
        if not token.check_client(client):
            raise InvalidGrantError("the token was not issued to this client")
        return token

    def revoke_token(self, token: _RevocationTarget, request: OAuthRequest) -> None:
        _exchange(request).revoked_sid = token.sid


@dataclass(frozen=True, slots=True)
class _RevocationTarget:
    client_id: str
    sid: str

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, clients: ClientRegistry, policy: TokenPolicy) -> None:
        super().__init__(scopes_supported=["sip:register", "config:read"])
        self.clients = clients
        self.policy = policy

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: Mapping[str, object], request: OAuthRequest) -> None:
        pass  # recorded by issue(); stored by the apply step

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: Sequence[tuple[str, str]]
    ) -> OAuthResponse:
        return OAuthResponse(status, body if isinstance(body, dict) else None, list(headers))

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        pass

    def refuse_authorization(self, request: OAuthRequest, error: OAuth2Error) -> OAuthResponse:
        """Authlib's answer to an authorization request that failed validation
        (``get_consent_grant``): an error page, or a redirect to the client —
        which, RFC 9207 §2, carries ``iss`` like every authorization response
        ("including error responses"). Authlib adds it only to the responses of
        ``create_authorization_response``, so the same hook runs here."""
        response = self.handle_error_response(request, error)
        assert isinstance(response, OAuthResponse)
        self.execute_hook("after_create_authorization_response", response)
        return response

    def issue(
        self, request: OAuthRequest, user: Principal, scope: str, include_refresh: bool
    ) -> dict[str, object]:
        """Mint the access token (and a refresh token when the policy allows)."""
        ex = _exchange(request)
        policy = self.policy
        client: Client = request.client
        new_grant = user.sid is None
        sid = user.sid or secrets.token_urlsafe(16)
        jti = secrets.token_urlsafe(16)
        access = mint_access_token(
            policy.keys,
            issuer=policy.issuer,
            audience=policy.audience,
            subject=user.subject,
            client_id=client.client_id,
            scope=scope,
            sid=sid,
            now=ex.now,
            lifetime=policy.access_lifetime,
            jti=jti,
        )
        token: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": policy.access_lifetime,
            "scope": scope,
        }
        refresh_hash = refresh_expires = None
        if include_refresh and policy.refresh_enabled:
            refresh = new_secret()
            refresh_hash = hash_secret(refresh)
            refresh_expires = user.refresh_expires_at or datetime.fromtimestamp(
                ex.now + policy.refresh_lifetime, UTC
            )
            token["refresh_token"] = refresh
            token["refresh_token_expires_in"] = max(0, int(refresh_expires.timestamp() - ex.now))
        ex.issued = Issued(
            sid=sid,
            new_grant=new_grant,
            principal=user,
            client_id=client.client_id,
            scope=scope,
            jti=jti,
            refresh_hash=refresh_hash,
            refresh_expires_at=refresh_expires,
        )
        return token


class _Iss(IssuerParameter):  # type: ignore[misc]
    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer


def build_server(clients: ClientRegistry, policy: TokenPolicy) -> _Server:
    """An Authlib authorization server with our grants and endpoints."""
    server = _Server(clients, policy)
    server.register_grant(_CodeGrant, [_S256Only(required=True)])
    server.register_grant(_RefreshGrant)
    server.register_grant(_ActivationGrant)
    # Registered in both modes so that, while Explicit, the fetch step's
    # refusal (unauthorized_client, saying why) is what the phone gets.
    server.register_grant(_MicGrant)
    server.register_client_auth_method("tls_client_auth", _tls_client_auth)
    server.register_endpoint(_Revocation)
    server.register_extension(_Iss(policy.issuer))
    return server


JSON_HEADERS: Final = list(default_json_headers)
