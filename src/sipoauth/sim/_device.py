"""The lifecycle every simulated device shares (issue 6 points 1-2).

Theory of operation. ``start()`` runs the device in its own task:

1. **Bootstrap** (``Provisioning.bootstrap``): ``caconfig.json`` over plain HTTP from the
   server's (or the edge's) bootstrap port; from then on the device trusts only
   those certificates, for every HTTPS and SIP TLS connection (R3). On
   premises, ``XMLDefault.cnf.xml`` says where the token endpoint and the
   secure config servers are; through an edge both are at the edge's web port.
2. **Tokens**: the subclass onboards (activation code) or signs in (code +
   PKCE) — ``_obtain_tokens``. Skipped on a reboot: the device keeps them.
3. **Config**: ``<DEVICE>.cnf.xml`` over HTTPS with the Bearer token, from the
   config servers in order (R10).
4. **Register**: every line with the first node of the file's group that takes
   them (``RegistrationSession``).
5. **Maintain** until stopped: re-register at ``reregister_fraction`` of the
   granted Expires; renew the access token at ``renew_fraction`` (75 %) of its
   life with the refresh token, keep the rotated one, re-register with the new
   token; send CRLF keep-alives (RFC 5626 §4.4.1) and treat a missing pong as
   a failed flow; answer NOTIFY check-sync by fetching the file again and
   re-registering (``reboot=true``: the whole lifecycle again, same tokens);
   re-register down the node list when the flow is lost.
6. On ``stop()``: unregister every line (Expires: 0) and close. A revoked
   grant (401 ``invalid_token`` "token revoked", ``invalid_grant`` on
   refresh) stops the device at once with a clear message.

Each step emits one event (``_events``); timers run on the event loop's clock.
Running as a task, stopping and the final event are ``_lifecycle``'s; where
the files come from is ``_provisioning``'s; the flow and its bindings are
``_registration``'s.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Final

from sipoauth.sip import Request

from ._config import (
    CallManagerEntry,
    DefaultConfig,
    DeviceFile,
    EdgeAddress,
    ServerAddress,
    TrustBundle,
)
from ._errors import GrantRevoked, SimError, SimFailure
from ._http import HttpClient
from ._lifecycle import DeviceLifecycle
from ._network import DeviceSettings, SimNetwork
from ._provisioning import Provisioning
from ._registration import (
    NodeUnavailable,
    RegistrationRefused,
    RegistrationSession,
    TokenRejected,
)
from ._tokens import OAuthFailure, TokenSet, refresh_tokens

__all__ = ["SimDevice"]

_RETRY_RENEW_MAX: Final = 30.0
"""Longest wait before trying a failed (unreachable) token renewal again."""


class _NoNode(SimFailure):
    """No node of the list took the registration (worth trying again later)."""


def _refusal(exc: RegistrationRefused | TokenRejected) -> SimError:
    if isinstance(exc, TokenRejected):
        text = f"registration refused: 401 invalid_token ({exc.description})"
        return GrantRevoked(text) if exc.revoked else SimFailure("token", text)
    return SimFailure("registration", f"registration refused: {exc}")


class SimDevice(DeviceLifecycle):
    """A simulated device's lifecycle; subclasses obtain the tokens."""

    client_id: str = ""
    """The OAuth client the device uses (for refresh)."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        instance: str,
        server: ServerAddress | None,
        edge: EdgeAddress | None,
        settings: DeviceSettings,
        network: SimNetwork | None,
    ) -> None:
        super().__init__(name, stop_grace=settings.stop_grace)
        self.model = model
        self.server = server
        self.edge = edge
        self.settings = settings
        self.tokens: TokenSet | None = None
        self.reset_seen = asyncio.Event()
        """Set on each NOTIFY check-sync (clear it to wait for the next)."""
        self.timings: dict[str, float] = {}
        """Seconds each bring-up step took: ``tokens``, ``config``, ``register``, ``ready``."""
        self._own_network = network is None
        self.network = network or SimNetwork(HttpClient(timeout=settings.http_timeout))
        self.sources = Provisioning(
            server=server, edge=edge, network=self.network, settings=settings, emit=self.emit
        )
        self._session = RegistrationSession(
            device=name,
            model=model,
            instance=instance,
            timeout=settings.request_timeout,
            requested_expires=settings.requested_expires,
            proxy_form=settings.proxy_form,
            retry_after_max=settings.retry_after_max,
            prerequisite_attempts=settings.prerequisite_attempts,
            keepalive_interval=settings.keepalive_interval,
            pong_timeout=settings.pong_timeout,
            on_request=self._on_request,
            on_change=self._wake_up,
            on_failover=self._failover,
        )
        self._notifies: list[Request] = []
        self._reregister_at = 0.0
        self._renew_not_before = 0.0

    # -- public ------------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self.state == "registered"

    @property
    def pongs(self) -> int:
        """Keep-alive pongs received on the current flow (RFC 5626 §4.4.1)."""
        flow = self._session.flow
        return flow.pongs if flow is not None else 0

    @property
    def registered_with(self) -> CallManagerEntry | None:
        return self._session.node if self._session.registered else None

    @property
    def trust(self) -> TrustBundle | None:
        """phone-edge-trust as ``caconfig.json`` gave it."""
        return self.sources.trust

    @property
    def default(self) -> DefaultConfig | None:
        return self.sources.default

    @property
    def file(self) -> DeviceFile | None:
        """The device's config file, as last downloaded."""
        return self.sources.file

    def context(self) -> ssl.SSLContext:
        """The TLS context trusting phone-edge-trust (after the bootstrap)."""
        return self.sources.context

    def token_endpoint(self) -> str:
        return self.sources.token_endpoint()

    def authorization_endpoint(self) -> str:
        return self.sources.authorization_endpoint()

    # -- to implement --------------------------------------------------------------------

    async def _obtain_tokens(self) -> None:
        """Onboard or sign in: set ``self.tokens`` and emit the step's event."""
        raise NotImplementedError

    # -- the lifecycle ---------------------------------------------------------------------

    async def _run(self) -> None:
        await self._bring_up()
        await self._maintain()

    async def _closed(self) -> None:
        if self._own_network:
            await self.network.aclose()

    async def _bring_up(self, *, reboot: bool = False) -> None:
        started = self._loop.time()
        await self.sources.bootstrap()
        if self.tokens is None:
            self._check_stop()
            await self._obtain_tokens()
            self.timings["tokens"] = self._loop.time() - started
        self._check_stop()
        mark = self._loop.time()
        await self._download()
        self.timings["config"] = self._loop.time() - mark
        self._check_stop()
        if reboot:
            self._session.new_boot()
        mark = self._loop.time()
        await self._attach("rebooted" if reboot else "initial")
        self.timings["register"] = self._loop.time() - mark
        self.timings["ready"] = self._loop.time() - started

    def _access_token(self) -> str:
        assert self.tokens is not None
        return self.tokens.access_token

    async def _download(self) -> DeviceFile:
        return await self.sources.download(self.name, self._access_token())

    async def _attach(self, why: str) -> None:
        file = self.file
        assert file is not None
        try:
            granted = await self._session.attach(
                file.call_managers, self.context(), self._access_token(), file.lines
            )
        except NodeUnavailable as exc:
            raise _NoNode("registration", str(exc)) from None
        except (RegistrationRefused, TokenRejected) as exc:
            raise _refusal(exc) from None
        self._registered(granted, why)

    async def _reregister(self, why: str) -> None:
        file = self.file
        assert file is not None
        try:
            granted = await self._session.register(self._access_token(), file.lines)
        except NodeUnavailable as exc:
            self.emit("connection-lost", f"{exc}; re-registering")
            await self._session.close()
            await self._recover()
            return
        except (RegistrationRefused, TokenRejected) as exc:
            raise _refusal(exc) from None
        self._registered(granted, why)

    def _registered(self, granted: int, why: str) -> None:
        node = self._session.node
        assert node is not None
        now = self._loop.time()
        # (at least a second apart, whatever a registrar grants)
        self._reregister_at = now + max(1.0, granted * self.settings.reregister_fraction)
        self.state = "registered"
        verb = "registered" if why == "initial" else "re-registered"
        self.emit(
            "registered",
            f"{verb} with {node.address} (expires {granted} s)",
            node=node.address,
            expires=granted,
            why=why,
            lines=",".join(self._session.registered),
        )

    async def _maintain(self) -> None:
        while True:
            self._check_stop()
            flow = self._session.flow
            now = self._loop.time()
            tokens = self.tokens
            assert tokens is not None
            if self._notifies:
                await self._check_sync()
            elif flow is None or not flow.is_open:
                reason = flow.close_reason if flow is not None else "no flow"
                self.emit("connection-lost", f"connection lost ({reason}); re-registering")
                await self._session.close()
                await self._recover()
            elif tokens.refresh_token and now >= self._renew_at(tokens):
                if await self._renew():
                    await self._reregister("new token")
            elif not tokens.refresh_token and now >= tokens.expires_at():
                raise SimFailure(
                    "token-expired",
                    "the access token expired and there is no refresh token to renew it "
                    "(OAuth with Refresh Login Flow is Disabled)",
                )
            elif now >= self._reregister_at:
                await self._reregister("refresh")
            else:
                await self._idle_until(self._next_deadline(tokens))

    def _next_deadline(self, tokens: TokenSet) -> float:
        deadlines = [self._reregister_at]
        if tokens.refresh_token:
            deadlines.append(self._renew_at(tokens))
        else:
            deadlines.append(tokens.expires_at())
        return min(deadlines)

    def _renew_at(self, tokens: TokenSet) -> float:
        return max(tokens.renew_at(self.settings.renew_fraction), self._renew_not_before)

    def _failover(self, text: str) -> None:
        self.emit("failover", text)

    def _on_request(self, request: Request) -> None:
        if request.method.upper() == "NOTIFY":
            self._notifies.append(request)
            self._wake.set()

    async def _renew(self) -> bool:
        """Refresh the tokens (rotation: keep the new refresh token); False when the
        token endpoint could not be reached (tried again later)."""
        old = self.tokens
        assert old is not None
        try:
            new = await refresh_tokens(
                self.network.http,
                self.token_endpoint(),
                self.client_id,
                old,
                context=self.context(),
                now=self._loop.time(),
            )
        except OAuthFailure as exc:
            if exc.error in ("invalid_grant", "unauthorized_client"):
                raise GrantRevoked(f"token refresh refused ({exc})") from None
            left = old.expires_at() - self._loop.time()
            if left <= 0:
                raise SimFailure("token-expired", f"token refresh failed: {exc}") from None
            wait = min(_RETRY_RENEW_MAX, max(1.0, left / 4))
            self._renew_not_before = self._loop.time() + wait
            self.emit(
                "token-refresh-failed", f"token refresh failed ({exc}); retry in {wait:.0f} s"
            )
            return False
        self.tokens = new
        rotated = new.refresh_token != old.refresh_token
        self.emit(
            "token-refreshed",
            f"token refreshed (expires in {new.expires_in} s"
            + (", refresh token rotated)" if rotated else ")"),
            expires_in=new.expires_in,
            rotated=rotated,
        )
        return True

    async def _recover(self) -> None:
        """Re-register down the node list, backing off while no node takes it."""
        self.state = "recovering"
        delay = self.settings.recovery_backoff
        while True:
            self._check_stop()
            try:
                await self._attach("recovered")
                return
            except _NoNode as exc:
                self.emit("connection-lost", f"{exc.message}; retrying in {delay:g} s")
            await self._sleep(delay)
            delay = min(delay * 2, self.settings.recovery_backoff_max)

    async def _check_sync(self) -> None:
        """NOTIFY check-sync (docs/registrar.md): fetch the file again and re-register;
        ``reboot=true`` restarts the lifecycle with the same tokens. The node sends
        one NOTIFY per binding (line): those arriving together are acted on once."""
        await asyncio.sleep(self.settings.notify_coalesce)
        batch, self._notifies = self._notifies, []
        events = [(request.get("event") or "").lower() for request in batch]
        syncs = [event for event in events if event.split(";")[0].strip() == "check-sync"]
        if not syncs:
            self.emit("notify", f"NOTIFY {events[0] or '(no Event)'} ignored")
            return
        reboot = any("reboot=true" in event.replace(" ", "") for event in syncs)
        self.reset_seen.set()
        if reboot:
            await self._session.close()  # a phone that restarts does not unregister
            self.state = "starting"
            try:
                await self._bring_up(reboot=True)
            except _NoNode as exc:
                self.emit("connection-lost", f"{exc.message}; re-registering")
                await self._recover()
        else:
            await self._download()
            await self._reregister("check-sync")
        assert self.file is not None
        what = "restarted" if reboot else "re-registered"
        self.emit(
            "notify",
            f"NOTIFY check-sync{' (reset)' if reboot else ''}: "
            f"config v{self.file.config_version}, {what}",
            config_version=self.file.config_version,
            reboot=reboot,
        )

    async def _shutdown(self, *, unregister: bool) -> None:
        node = self._session.node
        if (
            unregister
            and self._session.registered
            and self.tokens is not None
            and await self._session.unregister(self.tokens.access_token)
        ):
            self.emit("unregistered", f"unregistered from {node.address if node else '?'}")
        await self._session.close()
