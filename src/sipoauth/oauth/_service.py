"""The authorization server: fetch → decide (Authlib, ``_authlib``) → apply.

One :class:`AuthorizationService` per node. The web layer hands it parsed
parameters and the TLS :class:`Peer`, and turns the :class:`OAuthResponse` or
:class:`SignInPage` it returns into HTTP. Rules that are not Authlib's live
here, each once:

- R12.2: through the edge (``Peer.via_edge``) a desk phone may only use the
  activation-code grant (and refresh what it got), and only when the phone
  allows activation via MRA and the service parameter enables it;
- activation codes: wrong, expired, used and mismatched codes all get the same
  ``invalid_grant`` "Invalid activation code"; failures are throttled;
- refresh tokens rotate on every use; a rotated one presented again revokes
  its whole grant (RFC 9700 §4.14.2), as does a reused authorization code
  (RFC 6749 §4.1.2);
- an inactive or deleted user, or a deleted device, gets ``invalid_grant``;
- revocation (RFC 7009 and the admin form) revokes grants, which every node
  hears on the ``grants`` channel and drops the grant's registrations;
- the database down (docs/cluster.md "Database outage"): the token and
  revocation endpoints answer 503 ``temporarily_unavailable`` with
  ``Retry-After`` (RFC 7009 §2.2.1, RFC 9110 §15.6.4), the sign-in page says
  so with the same status, never a 500.

No token, code or password is ever logged: grants are named by ``sid``,
tokens by ``jti``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    OAuth2Error,
    UnauthorizedClientError,
)

from sipoauth.admin import _settings as keys_
from sipoauth.admin._activation import activation_key
from sipoauth.admin._audit import audit
from sipoauth.admin._users import verify_user_password
from sipoauth.store import (
    ActivationCode,
    ActivationCodeRecord,
    GrantRecord,
    RefreshToken,
    Store,
    StoreError,
    StoreUnavailable,
)

from ._authlib import (
    JSON_HEADERS,
    Exchange,
    OAuthRequest,
    OAuthResponse,
    Peer,
    Principal,
    TokenPolicy,
    build_server,
)
from ._claims import SCOPE_CONFIG_READ, SCOPE_SIP_REGISTER
from ._clients import ACTIVATION_GRANT, Client, ClientRegistry
from ._errors import InvalidToken
from ._keys import KeyRing
from ._secrets import hash_activation_code, hash_secret, normalise_activation_code
from ._throttle import Throttle, ThrottleSettings
from ._tokens import AccessTokenVerifier

__all__ = ["AuthorizationService", "Endpoints", "SignInPage"]

log = structlog.get_logger("sipoauth.oauth")

GRANTS_CHANNEL: Final = "grants"
CONFIG_CHANNEL: Final = "config"
_MAC = re.compile(r"[0-9A-F]{12}")
_MAC_SEPARATORS: Final = str.maketrans("", "", ":-. ")
DEVICE_GRANTS: Final = frozenset({ACTIVATION_GRANT, "client_credentials"})
INVALID_CODE: Final = "Invalid activation code"
UNAVAILABLE_RETRY_AFTER: Final = 30
"""Default seconds of ``Retry-After`` while the database cannot be reached."""
UNAVAILABLE: Final = "the authorization server cannot reach its database; try again later"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Absolute URLs of the endpoints (RFC 8414 metadata)."""

    issuer: str

    def url(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    @property
    def authorize(self) -> str:
        return self.url("/oauth/authorize")

    @property
    def token(self) -> str:
        return self.url("/oauth/token")

    @property
    def revoke(self) -> str:
        return self.url("/oauth/revoke")

    @property
    def introspect(self) -> str:
        return self.url("/oauth/introspect")

    @property
    def jwks(self) -> str:
        return self.url("/oauth/jwks")


@dataclass(frozen=True, slots=True)
class SignInPage:
    """The sign-in page to show (the web layer renders it)."""

    client_name: str
    params: tuple[tuple[str, str], ...]
    """The authorization request's parameters, carried through the form."""
    user_id: str = ""
    message: str | None = None
    status: int = 200
    retry_after: int | None = None


def _first(params: Mapping[str, Sequence[str]], name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _error(status: int, error: str, description: str) -> OAuthResponse:
    return OAuthResponse(
        status, {"error": error, "error_description": description}, list(JSON_HEADERS)
    )


def _log_unavailable(endpoint: str, error: StoreUnavailable) -> None:
    log.warning(
        "oauth request refused: database unavailable",
        endpoint=endpoint,
        error=(str(error).splitlines() or ["unavailable"])[0],
    )


def _normalise_mac(text: str) -> str | None:
    mac = text.translate(_MAC_SEPARATORS).upper()
    return mac if _MAC.fullmatch(mac) else None


def _same_model(configured: str, presented: str) -> bool:
    def norm(m: str) -> str:
        m = m.strip().upper()
        return m[3:] if m.startswith("CP-") else m

    return norm(configured) == norm(presented)


class AuthorizationService:
    """Token, authorization, revocation and introspection endpoints' logic."""

    def __init__(
        self,
        store: Store,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        throttle: ThrottleSettings | None = None,
        clock: Callable[[], float] = time.time,
        unavailable_retry_after: int = UNAVAILABLE_RETRY_AFTER,
    ) -> None:
        self.store = store
        self.unavailable_retry_after = unavailable_retry_after
        """``Retry-After`` (seconds) of the answers given while the database is down."""
        self.endpoints = Endpoints(issuer)
        self._audience = audience
        self._clock = clock
        self.throttle_settings = throttle or ThrottleSettings()
        self.throttle = Throttle(self.throttle_settings, clock=clock)
        self._keys = keys
        self._settings: dict[str, Any] = dict(keys_.DEFAULTS)
        self._activation_key: bytes | None = None
        self._build()

    # -- configuration -----------------------------------------------------------------

    def _build(self) -> None:
        s = self._settings
        self.policy = TokenPolicy(
            keys=self._keys,
            issuer=self.endpoints.issuer,
            audience=self._audience,
            access_lifetime=int(s[keys_.ACCESS_TOKEN_MINUTES]) * 60,
            refresh_lifetime=int(s[keys_.REFRESH_TOKEN_DAYS]) * 86400,
            refresh_enabled=bool(s[keys_.REFRESH_LOGIN_FLOW]),
            implicit_devices=s[keys_.TOKEN_FOR_DEVICES] == "implicit",
        )
        self.clients = ClientRegistry.from_parameter(str(s[keys_.THIRD_PARTY_REDIRECT_URIS]))
        self._server = build_server(self.clients, self.policy)
        self.verifier = AccessTokenVerifier(
            self._keys, issuer=self.endpoints.issuer, audience=self._audience, cache_size=0
        )

    async def reload(self, keys: KeyRing | None = None) -> None:
        """Re-read the enterprise/service parameters (and take new keys)."""
        self._settings = {**keys_.DEFAULTS, **await self.store.settings.get_many()}
        if keys is not None:
            self._keys = keys
        self._build()

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def _now(self) -> tuple[float, datetime]:
        now = self._clock()
        return now, datetime.fromtimestamp(now, UTC)

    def _unavailable(self, endpoint: str, error: StoreUnavailable) -> OAuthResponse:
        """503 ``temporarily_unavailable`` with ``Retry-After``: the database is down."""
        _log_unavailable(endpoint, error)
        response = _error(503, "temporarily_unavailable", UNAVAILABLE)
        response.headers.append(("Retry-After", str(self.unavailable_retry_after)))
        return response

    # -- /oauth/authorize ----------------------------------------------------------------

    async def authorize(
        self,
        method: str,
        params: Mapping[str, Sequence[str]],
        peer: Peer,
        credentials: tuple[str, str] | None = None,
    ) -> OAuthResponse | SignInPage:
        """Validate an authorization request (RFC 6749 §4.1.1 + PKCE) and, with
        credentials, sign the user in and redirect with a code."""
        now, _ = self._now()
        ex = Exchange(now, peer)
        client = self.clients.get(_first(params, "client_id"))
        if client is not None and client.kind == "desk":
            why = (
                "through Mobile and Remote Access a desk phone must onboard with an "
                "activation code, never a user name and password"
                if peer.via_mra
                else "desk phones onboard with an activation code, not by signing in"
            )
            return _error(400, "unauthorized_client", why)
        request = OAuthRequest(method, self.endpoints.authorize, {}, params, ex)
        try:
            grant = self._server.get_consent_grant(request)
        except OAuth2Error as error:
            return self._server.refuse_authorization(request, error)
        assert client is not None  # Authlib refused unknown clients
        carried = tuple(
            (k, v)
            for k in (
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "code_challenge",
                "code_challenge_method",
            )
            if (v := _first(params, k))
        )
        if credentials is None:
            return SignInPage(client.name, carried)
        user_id, password = credentials
        try:
            return await self._sign_in(request, grant, client, carried, user_id, password, ex)
        except StoreUnavailable as error:
            _log_unavailable("authorize", error)
            wait = self.unavailable_retry_after
            return SignInPage(
                client.name,
                carried,
                user_id,
                f"Sign-in is not available right now. Try again in {wait} seconds.",
                503,
                wait,
            )

    async def _sign_in(
        self,
        request: OAuthRequest,
        grant: Any,
        client: Client,
        carried: tuple[tuple[str, str], ...],
        user_id: str,
        password: str,
        ex: Exchange,
    ) -> OAuthResponse | SignInPage:
        """Check the user's password and redirect with a new authorization code."""
        peer = ex.peer
        wait = self.throttle.wait("signin", peer.address, user_id)
        if wait is not None:
            return SignInPage(
                client.name,
                carried,
                user_id,
                f"Too many failed sign-in attempts. Try again in {wait} seconds.",
                429,
                wait,
            )
        user = await verify_user_password(self.store, user_id, password)
        if user is None:
            self.throttle.failed("signin", peer.address, user_id)
            log.info("sign-in failed", client_id=client.client_id, via_mra=peer.via_mra)
            return SignInPage(client.name, carried, user_id, "Invalid user ID or password.")
        principal = Principal(user.user_id, user.user_id, "authorization_code")
        response = self._server.create_authorization_response(
            request, grant_user=principal, grant=grant
        )
        assert isinstance(response, OAuthResponse)
        if ex.new_code is not None:
            await self.store.authorization_codes.add(ex.new_code)
            log.info("signed in", user=user.user_id, client_id=client.client_id)
        return response

    # -- /oauth/token -------------------------------------------------------------------

    async def token(
        self, form: Mapping[str, Sequence[str]], headers: Mapping[str, str], peer: Peer
    ) -> OAuthResponse:
        """The token endpoint (RFC 6749 §3.2) for every grant we support; 503
        ``temporarily_unavailable`` with ``Retry-After`` while the database is down."""
        try:
            return await self._token(form, headers, peer)
        except StoreUnavailable as error:
            return self._unavailable("token", error)

    async def _token(
        self, form: Mapping[str, Sequence[str]], headers: Mapping[str, str], peer: Peer
    ) -> OAuthResponse:
        repeated = sorted(name for name, values in form.items() if len(values) > 1)
        if repeated:
            # RFC 6749 §3.2 "MUST NOT be included more than once"; §5.2 invalid_request.
            return _error(400, "invalid_request", f"repeated parameter: {', '.join(repeated)}")
        now, _ = self._now()
        ex = Exchange(now, peer)
        grant_type = _first(form, "grant_type")
        client = self.clients.get(_first(form, "client_id"))
        if (
            peer.via_mra
            and client is not None
            and client.kind == "desk"
            and grant_type not in (ACTIVATION_GRANT, "refresh_token")
        ):
            return _error(
                400,
                "unauthorized_client",
                "through Mobile and Remote Access a desk phone may only use an activation code",
            )
        if grant_type == ACTIVATION_GRANT:
            wait = self.throttle.wait("activation", peer.address)
            if wait is not None:
                response = _error(
                    429, "slow_down", f"too many invalid activation codes; retry in {wait} s"
                )
                response.headers.append(("Retry-After", str(wait)))
                return response
        try:
            return await self._issue(ex, grant_type, headers, form, client)
        finally:
            if ex.activation is not None:  # consumed, and not traded for stored tokens
                await self._give_back(ex.activation)

    async def _issue(
        self,
        ex: Exchange,
        grant_type: str,
        headers: Mapping[str, str],
        form: Mapping[str, Sequence[str]],
        client: Client | None,
    ) -> OAuthResponse:
        if grant_type == ACTIVATION_GRANT:
            await self._fetch_activation(ex, form, client)
        elif grant_type == "authorization_code":
            await self._fetch_code(ex, form)
        elif grant_type == "refresh_token":
            await self._fetch_refresh(ex, form)
        elif grant_type == "client_credentials":
            await self._fetch_mic(ex)
        request = OAuthRequest("POST", self.endpoints.token, headers, form, ex)
        response = self._server.create_token_response(request)
        assert isinstance(response, OAuthResponse)
        if response.status == 200 and ex.issued is not None:
            failure = await self._apply(ex)
            if failure is not None:
                return failure
            ex.activation = None  # spent: the tokens it gave are stored
            log.info(
                "tokens issued",
                grant_type=grant_type,
                client_id=ex.issued.client_id,
                subject=ex.issued.principal.subject,
                sid=ex.issued.sid,
                jti=ex.issued.jti,
                refresh=ex.issued.refresh_hash is not None,
                via_mra=ex.peer.via_mra,
            )
        return response

    async def _give_back(self, code: ActivationCodeRecord) -> None:
        """Put back an activation code whose request ended without stored tokens."""
        try:
            await self.store.activation_codes.put(
                ActivationCode(
                    device_name=code.device_name,
                    code_hash=code.code_hash,
                    model=code.model,
                    expires_at=code.expires_at,
                )
            )
        except StoreError as exc:
            log.warning(
                "activation code consumed but not given back: generate a new one",
                device=code.device_name,
                error=type(exc).__name__,
            )
        else:
            log.info("activation code given back: no tokens were issued", device=code.device_name)

    async def _fetch_activation(
        self, ex: Exchange, form: Mapping[str, Sequence[str]], client: Client | None
    ) -> None:
        if client is None or not client.check_grant_type(ACTIVATION_GRANT):
            return  # Authlib answers invalid_client / unauthorized_client
        raw_code, raw_mac, model = (_first(form, n) for n in ("activation_code", "mac", "model"))
        if not (raw_code and raw_mac and model):
            return  # Authlib answers invalid_request naming the parameter
        principal = await self._activate(ex, raw_code, raw_mac, model)
        if principal is None and ex.refusal is None:
            self.throttle.failed("activation", ex.peer.address)
            log.info("activation code refused", via_mra=ex.peer.via_mra)
        ex.principal = principal

    async def _activate(
        self, ex: Exchange, raw_code: str, raw_mac: str, model: str
    ) -> Principal | None:
        code, mac = normalise_activation_code(raw_code), _normalise_mac(raw_mac)
        if code is None or mac is None:
            return None
        store = self.store
        if self._activation_key is None:
            self._activation_key = await activation_key(store)
        record = await store.activation_codes.find(hash_activation_code(self._activation_key, code))
        if record is None or record.expires_at.timestamp() <= ex.now:
            return None
        device = await store.devices.get(record.device_name)
        if device is None or not _same_model(device.model, model):
            return None
        target = f"SEP{mac}"
        if device.name.startswith("BAT"):
            if not _same_model(record.model, model):
                return None
        elif device.name != target:
            return None
        # The code is right: from here on, refusals may say why.
        if ex.peer.via_mra:
            enabled = bool(self._settings[keys_.MRA_ACTIVATION_ENABLED])
            if not (enabled and device.allow_activation_via_mra):
                ex.refusal = UnauthorizedClientError(
                    "activation through Mobile and Remote Access is not allowed for this phone"
                )
                return None
        if device.name != target and await store.devices.get(target) is not None:
            ex.refusal = InvalidGrantError(f"a phone named {target} exists already")
            return None
        consumed = await store.activation_codes.consume(record.code_hash)
        if consumed is None:
            return None  # used concurrently: single use
        ex.activation = consumed
        if device.name != target:
            await store.devices.rename(device.name, target)
            ex.activation = dataclasses.replace(consumed, device_name=target)
            await store.notify(CONFIG_CHANNEL, f"device {device.name} activated as {target}")
            log.info("phone activated and renamed", device=device.name, name=target)
        return Principal(target, device.owner_user_id, ACTIVATION_GRANT)

    async def _fetch_code(self, ex: Exchange, form: Mapping[str, Sequence[str]]) -> None:
        code = _first(form, "code")
        if not code:
            return
        _, at = self._now()
        digest = hash_secret(code)
        record = await self.store.authorization_codes.consume(digest, at)
        if record is None:
            earlier = await self.store.authorization_codes.get(digest)
            if earlier is not None and earlier.sid is not None:
                # RFC 6749 §4.1.2: a code used twice revokes what it gave.
                await self.revoke_grant(earlier.sid, why="authorization code reused")
            return
        ex.code = record
        user = await self.store.users.get(record.user_id)
        if user is not None and user.active:
            ex.principal = Principal(user.user_id, user.user_id, "authorization_code")

    async def _fetch_refresh(self, ex: Exchange, form: Mapping[str, Sequence[str]]) -> None:
        token = _first(form, "refresh_token")
        if not token:
            return
        if not self.policy.refresh_enabled:
            # docs/oauth.md: refused whatever the token; the grant raises it after
            # Authlib's client checks (a replay below is still detected).
            ex.refusal = UnauthorizedClientError("OAuth with Refresh Login Flow is disabled")
        record = await self.store.refresh_tokens.get(hash_secret(token))
        if record is None:
            return
        if record.rotated_at is not None:
            await self.revoke_grant(record.sid, why="rotated refresh token presented again")
            return
        if ex.refusal is not None or record.expires_at.timestamp() <= ex.now:
            return
        grant = await self.store.grants.get(record.sid)
        if grant is None or grant.revoked_at is not None:
            return
        if not await self._subject_in_good_standing(grant):
            return
        ex.refresh = record
        ex.principal = Principal(
            record.subject,
            grant.user_id,
            grant.grant_type or "authorization_code",
            sid=record.sid,
            refresh_expires_at=record.expires_at,
        )

    async def _subject_in_good_standing(self, grant: GrantRecord) -> bool:
        """An inactive or deleted user, or a deleted device, gets no more tokens."""
        store = self.store
        if grant.grant_type in DEVICE_GRANTS:
            if await store.devices.get(grant.subject) is None:
                return False
            if grant.user_id is not None:
                owner = await store.users.get(grant.user_id)
                return owner is None or owner.active
            return True
        user = await store.users.get(grant.subject)
        return user is not None and user.active

    async def _fetch_mic(self, ex: Exchange) -> None:
        name = ex.peer.mic_device
        if name is None:
            return  # tls_client_auth fails: invalid_client
        if not self.policy.implicit_devices:
            ex.refusal = UnauthorizedClientError(
                "OAuth Access Token for Devices is Explicit: phones onboard with activation codes"
            )
            return
        device = await self.store.devices.get(name)
        if device is not None and device.device_type == "desk":
            ex.principal = Principal(device.name, device.owner_user_id, "client_credentials")

    async def _apply(self, ex: Exchange) -> OAuthResponse | None:
        """Store what the token response handed out; None when all is stored."""
        issued = ex.issued
        assert issued is not None
        store = self.store
        _, at = self._now()
        if issued.new_grant:
            await store.grants.create(
                issued.sid,
                issued.principal.subject,
                issued.client_id,
                user_id=issued.principal.user_id,
                grant_type=issued.principal.grant_type,
                at=at,
            )
        if issued.refresh_hash is not None and issued.refresh_expires_at is not None:
            new = RefreshToken(
                token_hash=issued.refresh_hash,
                sid=issued.sid,
                client_id=issued.client_id,
                subject=issued.principal.subject,
                # RFC 6749 §6: a refresh may narrow the access token's scope, but the
                # new refresh token's scope is identical to the one presented.
                scope=ex.refresh.scope if ex.refresh is not None else issued.scope,
                expires_at=issued.refresh_expires_at,
            )
            if ex.refresh is not None:
                if not await store.refresh_tokens.rotate(ex.refresh.token_hash, new, at):
                    await self.revoke_grant(issued.sid, why="refresh token used twice at once")
                    return _error(400, "invalid_grant", "The refresh token was already used.")
            else:
                await store.refresh_tokens.add(new)
        if ex.code is not None:
            await store.authorization_codes.set_sid(ex.code.code_hash, issued.sid)
        return None

    # -- revocation and introspection ----------------------------------------------------

    async def revoke_grant(self, sid: str, *, why: str) -> bool:
        """Revoke a grant: its refresh tokens go, its access tokens are refused by
        every node from now on and its registrations are dropped."""
        _, at = self._now()
        revoked = await self.store.grants.revoke(sid, at)
        await self.store.refresh_tokens.delete_grant(sid)
        if revoked:
            await self.store.notify(GRANTS_CHANNEL, sid)
            log.info("grant revoked", sid=sid, why=why)
        return revoked

    async def _identify(self, token: str, now: float) -> tuple[str, str] | None:
        """(client_id, sid) of a refresh or access token of ours, else None."""
        record = await self.store.refresh_tokens.get(hash_secret(token))
        if record is not None:
            return record.client_id, record.sid
        try:
            claims = self.verifier.verify(token, now)
        except InvalidToken:
            return None
        return claims.client_id, claims.sid

    async def revoke(
        self, form: Mapping[str, Sequence[str]], headers: Mapping[str, str], peer: Peer
    ) -> OAuthResponse:
        """RFC 7009 token revocation (whole grant); 503 with ``Retry-After`` while
        the database is down (§2.2.1: the client assumes the token still lives)."""
        try:
            return await self._revoke(form, headers, peer)
        except StoreUnavailable as error:
            return self._unavailable("revoke", error)

    async def _revoke(
        self, form: Mapping[str, Sequence[str]], headers: Mapping[str, str], peer: Peer
    ) -> OAuthResponse:
        now, _ = self._now()
        ex = Exchange(now, peer)
        token = _first(form, "token")
        if token:
            ex.revoke_target = await self._identify(token, now)
        request = OAuthRequest("POST", self.endpoints.revoke, headers, form, ex)
        response = self._server.create_endpoint_response("revocation", request)
        assert isinstance(response, OAuthResponse)
        if response.status == 200 and ex.revoked_sid is not None:
            await self.revoke_grant(ex.revoked_sid, why="revoked by its client (RFC 7009)")
        return response

    async def introspect(self, token: str) -> dict[str, object]:
        """RFC 7662 §2.2 answer for an access or refresh token."""
        now, _ = self._now()
        store = self.store
        record = await store.refresh_tokens.get(hash_secret(token))
        if record is not None:
            grant = await store.grants.get(record.sid)
            if (
                record.rotated_at is not None
                or record.expires_at.timestamp() <= now
                or grant is None
                or grant.revoked_at is not None
            ):
                return {"active": False}
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": record.client_id,
                "sub": record.subject,
                "scope": record.scope,
                "exp": int(record.expires_at.timestamp()),
                "iss": self.endpoints.issuer,
                "sid": record.sid,
            }
        try:
            claims = self.verifier.verify(token, now)
        except InvalidToken:
            return {"active": False}
        if await store.grants.is_revoked(claims.sid):
            return {"active": False}
        return {
            "active": True,
            "token_type": "Bearer",
            "client_id": claims.client_id,
            "sub": claims.subject,
            "scope": " ".join(sorted(claims.scope)),
            "exp": int(claims.expires_at),
            "iat": int(claims.issued_at),
            "iss": self.endpoints.issuer,
            "aud": self._audience,
            "jti": claims.jti,
            "sid": claims.sid,
        }

    async def revoke_user(self, user_id: str, client_id: str | None = None) -> dict[str, object]:
        """An administrator revokes every live grant of the user (of one client):
        the admin form ``/ssosp/token/revoke`` and the OAuth page. Audited; the
        count of revoked tokens per client."""
        _, at = self._now()
        store = self.store
        revoked = await store.grants.revoke_user(user_id, client_id, at=at)
        per_client: dict[str, dict[str, int]] = {}
        for grant in revoked:
            dropped = await store.refresh_tokens.delete_grant(grant.sid)
            entry = per_client.setdefault(grant.client_id, {"grants": 0, "refresh_tokens": 0})
            entry["grants"] += 1
            entry["refresh_tokens"] += dropped
            await store.notify(GRANTS_CHANNEL, grant.sid)
        log.info("tokens revoked by an administrator", user=user_id, grants=len(revoked))
        # Audited here, once, as whoever the interface says is acting (acting_as).
        await audit(
            store,
            "revoke",
            "user-tokens",
            user_id,
            {"client_id": client_id, "grants": len(revoked)},
        )
        return {
            "user_id": user_id,
            "client_id": client_id,
            "revoked": [{"client_id": cid, **counts} for cid, counts in sorted(per_client.items())],
        }

    async def purge(self) -> dict[str, int]:
        """The daily job: forget expired refresh tokens, codes and activation codes."""
        _, at = self._now()
        store = self.store
        return {
            "refresh_tokens": await store.refresh_tokens.purge_expired(at),
            "authorization_codes": await store.authorization_codes.purge(at),
            "activation_codes": await store.activation_codes.purge(at),
        }

    # -- discovery -----------------------------------------------------------------------

    def metadata(self) -> dict[str, object]:
        """RFC 8414 authorization server metadata."""
        e = self.endpoints
        grants = ["authorization_code", "refresh_token", ACTIVATION_GRANT]
        if self.policy.implicit_devices:
            grants.append("client_credentials")
        return {
            "issuer": e.issuer,
            "authorization_endpoint": e.authorize,
            "token_endpoint": e.token,
            "jwks_uri": e.jwks,
            "revocation_endpoint": e.revoke,
            "introspection_endpoint": e.introspect,
            "scopes_supported": [SCOPE_SIP_REGISTER, SCOPE_CONFIG_READ],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grants,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "tls_client_auth"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "authorization_response_iss_parameter_supported": True,
            "tls_client_certificate_bound_access_tokens": False,
        }

    def jwks(self) -> dict[str, object]:
        """The public signing keys (RFC 7517), current first."""
        return {"keys": [key.public_jwk() for key in self._keys.signing]}
