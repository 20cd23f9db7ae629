"""The lifecycle every simulated device shares (issue 6 points 1-2).

Theory of operation. ``start()`` runs the device in its own task:

1. **Bootstrap** (``_bootstrap``): ``caconfig.json`` over plain HTTP from the
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
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from dataclasses import dataclass
from typing import Final

from sipoauth.pki import client_ssl_context
from sipoauth.sip import Request

from ._config import (
    CallManagerEntry,
    ConfigError,
    ConfigServer,
    DefaultConfig,
    DeviceFile,
    EdgeAddress,
    ServerAddress,
    TrustBundle,
    parse_caconfig,
    parse_default_config,
)
from ._errors import GrantRevoked, SimError, SimFailure
from ._events import EventLog, SimEvent
from ._fetch import download_config, fetch_bootstrap
from ._http import HttpClient
from ._registration import (
    NodeUnavailable,
    RegistrationRefused,
    RegistrationSession,
    TokenRejected,
)
from ._tokens import OAuthFailure, TokenSet, request_tokens

__all__ = ["DeviceSettings", "SimDevice", "SimNetwork"]

_RETRY_RENEW_MAX: Final = 30.0
"""Longest wait before trying a failed (unreachable) token renewal again."""


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """Timers and limits of a simulated device; defaults are what phones do."""

    renew_fraction: float = 0.75
    """Renew the access token at this fraction of its life (REFERENCE-BEHAVIOUR)."""
    reregister_fraction: float = 0.8
    """Re-register at this fraction of the granted Expires."""
    requested_expires: int = 3600
    """Expires asked for; the registrar grants its own interval (120 s)."""
    keepalive_interval: float = 120.0
    """Seconds between CRLF keep-alives, jittered to 80-100 % (RFC 5626 §4.4.1)."""
    pong_timeout: float = 10.0
    """A ping unanswered this long means the flow failed (RFC 5626 §4.4.1)."""
    request_timeout: float = 10.0
    """Seconds for a TLS connect or a SIP transaction."""
    http_timeout: float = 15.0
    """Seconds for an HTTP request (bootstrap, token endpoint, config file)."""
    retry_after_max: float = 35.0
    """Longest Retry-After honoured before trying a refused REGISTER again."""
    prerequisite_attempts: int = 3
    """REGISTERs sent to one node while it answers 403 + Retry-After."""
    config_attempts: int = 3
    """Downloads of the config file while the server answers 403 / 404."""
    config_retry_delay: float = 5.0
    """Seconds between those downloads."""
    recovery_backoff: float = 1.0
    """First wait before re-registering after every node failed; doubles."""
    recovery_backoff_max: float = 60.0
    proxy_form: bool = False
    """Send ``Proxy-Authorization: Bearer token="…"`` (deployed phones) instead
    of RFC 8898's ``Authorization: Bearer``."""
    notify_coalesce: float = 0.05
    """Seconds to wait for sibling NOTIFYs (one per line) before acting on one."""
    stop_grace: float = 10.0
    """Seconds ``stop()`` waits for the unregistration before it cancels."""


class SimNetwork:
    """What devices in one process share: the HTTP connection pool and one TLS
    context per trust bundle (a load run of hundreds of phones builds one)."""

    def __init__(self, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient()
        self._contexts: dict[str, ssl.SSLContext] = {}

    def context_for(self, bundle: TrustBundle) -> ssl.SSLContext:
        """A TLS client context trusting exactly ``bundle``'s certificates."""
        context = self._contexts.get(bundle.sha256)
        if context is None:
            pems = [pem.encode("ascii") for pem in bundle.pems]
            context = self._contexts[bundle.sha256] = client_ssl_context(pems)
        return context

    async def aclose(self) -> None:
        await self.http.aclose()


class _StopRequested(Exception):
    pass


class _NoNode(SimFailure):
    """No node of the list took the registration (worth trying again later)."""


def _refusal(exc: RegistrationRefused | TokenRejected) -> SimError:
    if isinstance(exc, TokenRejected):
        text = f"registration refused: 401 invalid_token ({exc.description})"
        return GrantRevoked(text) if exc.revoked else SimFailure("token", text)
    return SimFailure("registration", f"registration refused: {exc}")


class SimDevice:
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
        if (server is None) == (edge is None):
            raise ValueError("give a server (on premises) or an edge (MRA), not both")
        self.name = name
        self.model = model
        self.server = server
        self.edge = edge
        self.settings = settings
        self.log = EventLog()
        self.state = "idle"
        """idle, starting, registered, recovering, stopping, stopped, failed, revoked."""
        self.tokens: TokenSet | None = None
        self.trust: TrustBundle | None = None
        self.default: DefaultConfig | None = None
        self.file: DeviceFile | None = None
        self.reset_seen = asyncio.Event()
        """Set on each NOTIFY check-sync (clear it to wait for the next)."""
        self.timings: dict[str, float] = {}
        """Seconds each bring-up step took: ``tokens``, ``config``, ``register``, ``ready``."""
        self._own_network = network is None
        self.network = network or SimNetwork(HttpClient(timeout=settings.http_timeout))
        self._context: ssl.SSLContext | None = None
        self._session = RegistrationSession(
            device=name,
            model=model,
            instance=instance,
            timeout=settings.request_timeout,
            requested_expires=settings.requested_expires,
            proxy_form=settings.proxy_form,
            retry_after_max=settings.retry_after_max,
            prerequisite_attempts=settings.prerequisite_attempts,
            on_request=self._on_request,
            on_change=self._wake_up,
            on_failover=self._failover,
        )
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._notifies: list[Request] = []
        self._task: asyncio.Task[None] | None = None
        self._reregister_at = 0.0
        self._keepalive_at = 0.0
        self._pong_deadline: float | None = None
        self._pongs = 0
        self._renew_not_before = 0.0
        self._loop = asyncio.get_running_loop()

    # -- public ------------------------------------------------------------------------

    def emit(self, kind: str, message: str, **data: str | int | float | bool | None) -> SimEvent:
        return self.log.emit(self.name, kind, message, **data)

    async def start(self) -> None:
        """Bring the device up in the background (await ``wait_for("registered")``)."""
        if self._task is not None:
            raise RuntimeError(f"{self.name} was started already")
        self.state = "starting"
        self._task = asyncio.create_task(self._main(), name=f"sim {self.name}")

    async def stop(self) -> SimEvent:
        """Unregister and close (if still running); the final event."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.settings.stop_grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        return await self.finished()

    async def finished(self) -> SimEvent:
        """Wait until the device has ended; its final event."""
        if self._task is not None:
            await asyncio.shield(self._task)
        final = self.log.final
        assert final is not None, "finished() before start()"
        return final

    async def wait_for(
        self, kind: str, *, since: int = 0, timeout: float | None = None
    ) -> SimEvent:
        """The first ``kind`` event after ``since`` (see :meth:`EventLog.wait_for`)."""
        return await self.log.wait_for(kind, since=since, timeout=timeout)

    def mark(self) -> int:
        return self.log.mark()

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

    async def __aenter__(self) -> SimDevice:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- to implement --------------------------------------------------------------------

    async def _obtain_tokens(self) -> None:
        """Onboard or sign in: set ``self.tokens`` and emit the step's event."""
        raise NotImplementedError

    # -- the lifecycle ---------------------------------------------------------------------

    async def _main(self) -> None:
        kind, message, reason = "stopped", "stopped", ""
        revoked = False
        try:
            await self._bring_up()
            await self._maintain()
        except _StopRequested:
            pass
        except GrantRevoked as exc:
            kind, message, reason, revoked = "revoked", f"{exc.message}: stopped", exc.reason, True
        except SimError as exc:
            kind, message, reason = "failed", f"failed: {exc.message}", exc.reason
        except asyncio.CancelledError:
            await self._session.close()
            self.state = "stopped"
            self.log.emit(self.name, "stopped", "stopped (cancelled)")
            raise
        except Exception as exc:  # a bug must end the device visibly, not hang it
            kind, message, reason = "failed", f"failed: {type(exc).__name__}: {exc}", "internal"
        self.state = "stopping"
        try:
            await self._shutdown(unregister=not revoked)
        finally:
            if self._own_network:
                await self.network.aclose()
            self.state = kind
            self.emit(kind, message, **({"reason": reason} if reason else {}))

    async def _bring_up(self, *, reboot: bool = False) -> None:
        started = self._loop.time()
        await self._bootstrap()
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

    async def _bootstrap(self) -> None:
        base = self.edge.bootstrap_base if self.edge else self._server().bootstrap_base
        try:
            self.trust = parse_caconfig(
                await fetch_bootstrap(self.network.http, base, "caconfig.json")
            )
        except ConfigError as exc:
            raise SimFailure("bootstrap", str(exc)) from None
        self._context = self.network.context_for(self.trust)
        plural = "" if self.trust.count == 1 else "s"
        self.emit(
            "caconfig",
            f"caconfig.json: {self.trust.count} certificate{plural}",
            certificates=self.trust.count,
            sha256=self.trust.sha256,
        )
        if self.edge is not None:
            return  # through the edge: token endpoint and files at its web port
        try:
            body = await fetch_bootstrap(self.network.http, base, "XMLDefault.cnf.xml")
            self.default = parse_default_config(body)
        except ConfigError as exc:
            raise SimFailure("bootstrap", str(exc)) from None
        self.emit(
            "default-config",
            f"XMLDefault.cnf.xml: token endpoint {self.default.oauth.token_endpoint}, "
            f"{len(self.default.call_managers)} node(s)",
            token_endpoint=self.default.oauth.token_endpoint,
        )

    def _server(self) -> ServerAddress:
        assert self.server is not None
        return self.server

    def context(self) -> ssl.SSLContext:
        """The TLS context trusting phone-edge-trust (after the bootstrap)."""
        assert self._context is not None, "bootstrap first"
        return self._context

    def token_endpoint(self) -> str:
        if self.file is not None:
            return self.file.oauth.token_endpoint
        if self.edge is not None:
            return f"{self.edge.web_base}/oauth/token"
        assert self.default is not None
        return self.default.oauth.token_endpoint

    def authorization_endpoint(self) -> str:
        if self.edge is not None:
            return f"{self.edge.web_base}/oauth/authorize"
        assert self.default is not None
        return self.default.oauth.authorization_endpoint

    def _config_servers(self) -> tuple[ConfigServer, ...]:
        if self.edge is not None:
            return (ConfigServer(self.edge.host, self.edge.web_port),)
        if self.file is not None and self.file.config_servers:
            return self.file.config_servers
        assert self.default is not None
        return self.default.config_servers

    def _access_token(self) -> str:
        assert self.tokens is not None
        return self.tokens.access_token

    async def _download(self) -> None:
        self.file, source = await download_config(
            self.network.http,
            self._config_servers(),
            self.name,
            self._access_token(),
            self.context(),
            attempts=self.settings.config_attempts,
            retry_delay=self.settings.config_retry_delay,
        )
        lines = ", ".join(self.file.lines)
        self.emit(
            "config",
            f"config v{self.file.config_version} from {source} "
            f"({self.file.access_mode}, {len(self.file.call_managers)} node(s), lines {lines})",
            config_version=self.file.config_version,
            source=source,
            access_mode=self.file.access_mode,
        )

    async def _attach(self, why: str) -> None:
        assert self.file is not None
        try:
            granted = await self._session.attach(
                self.file.call_managers, self.context(), self._access_token(), self.file.lines
            )
        except NodeUnavailable as exc:
            raise _NoNode("registration", str(exc)) from None
        except (RegistrationRefused, TokenRejected) as exc:
            raise _refusal(exc) from None
        self._registered(granted, why)

    async def _reregister(self, why: str) -> None:
        assert self.file is not None
        try:
            granted = await self._session.register(self._access_token(), self.file.lines)
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
        self._reregister_at = now + granted * self.settings.reregister_fraction
        self._schedule_keepalive(now)
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

    def _schedule_keepalive(self, now: float) -> None:
        interval = self.settings.keepalive_interval
        self._keepalive_at = now + interval * random.uniform(0.8, 1.0)
        self._pong_deadline = None

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
            elif self._pong_deadline is not None and flow.pongs > self._pongs:
                self._schedule_keepalive(now)
            elif self._pong_deadline is not None and now >= self._pong_deadline:
                await flow.close()  # RFC 5626 §4.4.1: the flow failed
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
            elif self._pong_deadline is None and now >= self._keepalive_at:
                self._pongs = flow.pongs
                self._pong_deadline = now + self.settings.pong_timeout
                with contextlib.suppress(ConnectionError):
                    await flow.send_ping()
            else:
                await self._idle_until(self._next_deadline(tokens))

    def _next_deadline(self, tokens: TokenSet) -> float:
        deadlines = [self._reregister_at]
        if tokens.refresh_token:
            deadlines.append(self._renew_at(tokens))
        else:
            deadlines.append(tokens.expires_at())
        deadlines.append(self._pong_deadline or self._keepalive_at)
        return min(deadlines)

    def _renew_at(self, tokens: TokenSet) -> float:
        return max(tokens.renew_at(self.settings.renew_fraction), self._renew_not_before)

    async def _idle_until(self, deadline: float) -> None:
        delay = deadline - self._loop.time()
        if delay > 0 and not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        self._wake.clear()

    async def _sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds, or until stopped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop.wait()
        self._check_stop()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise _StopRequested

    def _failover(self, text: str) -> None:
        self.emit("failover", text)

    def _wake_up(self) -> None:
        self._wake.set()

    def _on_request(self, request: Request) -> None:
        if request.method.upper() == "NOTIFY":
            self._notifies.append(request)
            self._wake.set()

    async def _renew(self) -> bool:
        """Refresh the tokens (rotation: keep the new refresh token); False when the
        token endpoint could not be reached (tried again later)."""
        old = self.tokens
        assert old is not None and old.refresh_token is not None
        form = {
            "grant_type": "refresh_token",
            "refresh_token": old.refresh_token,
            "client_id": self.client_id,
        }
        try:
            new = await request_tokens(
                self.network.http,
                self.token_endpoint(),
                form,
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
        if new.refresh_token is None:  # no rotation offered: keep the one we have
            new = TokenSet(new.access_token, old.refresh_token, new.expires_in, new.obtained_at)
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
            await self._bring_up(reboot=True)
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
