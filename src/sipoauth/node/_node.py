"""The node process: loads the cluster's configuration and runs its services.

The node runs the Cisco CallManager service (the SIP listeners on the SIP
Phone OAuth Port and the SIP MRA Port), the Cisco Tomcat web service (the
authorization server on HTTPS 8443) and the Cisco TFTP service (configuration
files on HTTP 6970 and HTTPS 6971), each startable, stoppable and
restartable on its own (`_services`), also by an administrator through the
control channel (`_control`). Bindings live in memory and are mirrored to the
store (write-behind, `_mirror`); the registrar never waits for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from sipoauth import admin
from sipoauth.admin import _settings as keys_
from sipoauth.oauth import AccessClaims, AccessTokenVerifier, AuthorizationService, Peer
from sipoauth.pki import EdgeEntry, NodePki
from sipoauth.provisioning import ConfigCatalog
from sipoauth.registrar import (
    Binding,
    CoreResult,
    DeviceInfo,
    Directory,
    DirectorySnapshot,
    Registrar,
    RegistrarSettings,
)
from sipoauth.sip import new_tag
from sipoauth.store import CATCH_UP, Store, StoreError
from sipoauth.web import ApiContext, build_web_app

from ._bootstrap import PKI_DIR, unlock_store
from ._config import NodeConfig
from ._control import ControlChannel
from ._flows import FlowTable
from ._identity import IdentitySync, sync_identity
from ._keys import token_context
from ._logging import configure_logging
from ._memory import release_free_memory
from ._mirror import BindingMirror
from ._resets import watch_resets
from ._services import (
    MRA_PORT,
    OAUTH_PORT,
    TFTP_PORT,
    TFTP_SECURE_PORT,
    WEB_PORT,
    CallManagerService,
    Listener,
    ServiceError,
    Supervisor,
    TftpService,
    TomcatService,
)
from ._web import PeerClassifier

log = structlog.get_logger("sipoauth.node")

CONFIG_CHANNEL = "config"
"""Notification channel: configuration changed; payload says what, for logs."""
GRANTS_CHANNEL = "grants"
"""Notification channel: a grant was revoked; payload is its sid."""
TRIM_AFTER_HANDSHAKES = 256
"""Return freed memory to the OS after this many new connections."""
CALLMANAGER_TRUST = "callmanager-trust"
"""Trust store of phone manufacturer certificates (MICs)."""


async def until_done(
    what: str,
    action: Callable[[], Awaitable[object]],
    *,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **context: object,
) -> None:
    """Run ``action`` until the database lets it succeed: after a StoreError wait
    ``first_delay`` seconds, twice as long after each next one, at most
    ``max_delay``. Any other error is a bug, not the database: logged with its
    traceback, and not retried."""
    delay = first_delay
    failures = 0
    while True:
        try:
            await action()
        except StoreError as exc:
            failures += 1
            log.warning(
                f"{what} failed; retrying",
                error=str(exc),
                failures=failures,
                retry_in=delay,
                **context,
            )
            await sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        except Exception:
            log.exception(f"{what} failed", **context)
            return
        if failures:
            log.info(f"{what} done after {failures} failure(s)", **context)
        return


async def _sync_identity(store: Store, config: NodeConfig) -> IdentitySync:
    """This node's certificates from the database into ``pki/`` (see ``_identity``)."""
    sync = await sync_identity(
        store,
        config.data_dir / PKI_DIR,
        node_name=config.node_name,
        hostname=config.hostname,
        now=datetime.now(UTC),
    )
    if sync.written:
        log.info("certificates written from the database", files=sync.written)
    return sync


class Node:
    """One running node."""

    def __init__(self, config: NodeConfig, store: Store, pki: NodePki) -> None:
        if not structlog.is_configured():
            # structlog's default renderer prints rich tracebacks *with locals*, which
            # could show a token; a node never runs with it (STYLE.md rule 10).
            configure_logging()
        self.config = config
        self.store = store
        self.pki = pki
        self.flows = FlowTable()
        self.directory = DirectorySnapshot()
        self.edges: list[EdgeEntry] = []
        self.trust_pems: list[bytes] = []
        self.mic_trust_pems: list[bytes] = []
        self.peer_classifier = PeerClassifier((), (), ())
        self._classified_by: tuple[object, ...] | None = None
        self.authz: AuthorizationService | None = None
        self.registrar: Registrar | None = None
        self.mirror = BindingMirror(store, config.node_name, slack=config.mirror_slack)
        self.catalog = ConfigCatalog(store, oauth_mode=lambda: self.directory.oauth_mode)
        self.callmanager = CallManagerService(self)
        self.tomcat = TomcatService(self)
        self.tftp = TftpService(self)
        self.services = Supervisor(
            store, config.node_name, [self.callmanager, self.tomcat, self.tftp]
        )
        self.control = ControlChannel(
            store,
            config.node_name,
            self.services,
            poll_interval=config.control_poll_interval,
            command_ttl=config.control_command_ttl,
        )
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, config: NodeConfig) -> Node:
        """Open the node's PKI and store; `start` loads the configuration."""
        store = await Store.open(config.database_url)
        try:
            await unlock_store(store, config.data_dir)
            sync = await _sync_identity(store, config)
        except BaseException:
            await store.close()
            raise
        for what in sync.created:
            log.warning("created at start", what=what)
        return cls(config, store, sync.pki)

    async def refresh_identity(self) -> NodePki:
        """This node's certificates as the database has them now (a service that
        presents them is starting: an upload or regeneration takes effect). On a
        database outage the files of ``pki/`` serve as they are."""
        try:
            sync = await _sync_identity(self.store, self.config)
        except StoreError as exc:
            log.warning("certificates not refreshed from the database", error=str(exc))
            return self.pki
        self.pki = sync.pki
        return self.pki

    @property
    def listeners(self) -> list[Listener]:
        """What the running services listen on, CallManager first."""
        return [x for service in self.services for x in service.listeners]

    # -- configuration ----------------------------------------------------------------

    async def load(self) -> None:
        """(Re)load settings, keys, devices, edges and trust from the store."""
        store = self.store
        settings = {**keys_.DEFAULTS, **await store.settings.get_many()}
        tokens = await token_context(store)
        profiles = {p.name: p for p in await store.profiles.list()}
        devices = []
        mark = self.catalog.mark()  # a reset heard from here on stays pending
        records = await store.devices.list()
        for dev in records:
            profile = profiles.get(dev.profile_name) if dev.profile_name else None
            devices.append(
                DeviceInfo(
                    dev.name,
                    tuple(line.dn for line in dev.lines),
                    oauth=bool(profile and profile.oauth),
                    owner=dev.owner_user_id,
                )
            )
        revoked = [g.sid for g in await store.grants.list_revoked()]
        # R8: a mode change takes effect when the CallManager service (re)starts; a
        # running service keeps the mode it started with ("restart pending").
        mode = bool(settings[keys_.SIP_OAUTH_MODE])
        if self.callmanager.running:
            mode = self.directory.oauth_mode
        snapshot = DirectorySnapshot.build(oauth_mode=mode, devices=devices, revoked=revoked)
        self.edges = [
            EdgeEntry(e.address, e.description, tuple(e.x509_names), e.domain)
            for e in await store.edges.list()
        ]
        self.trust_pems = [c.pem.encode() for c in await store.trusted_certs.list("tomcat-trust")]
        self.mic_trust_pems = [
            c.pem.encode() for c in await store.trusted_certs.list(CALLMANAGER_TRUST)
        ]
        classified_by = (tuple(self.edges), tuple(self.trust_pems), tuple(self.mic_trust_pems))
        if classified_by != self._classified_by:
            self.peer_classifier = PeerClassifier.from_pems(
                self.edges, self.trust_pems, self.mic_trust_pems
            )
            # A new classifier: open web connections judge their client
            # certificate again at their next request (node/_web.py).
            self._classified_by = classified_by
        # A new issuer (the publisher's web port moved: admin.set_server_ports)
        # means a new authorization server and verifier; otherwise the same ones
        # take the keys in force.
        if self.authz is None or self.authz.endpoints.issuer != tokens.issuer:
            self.authz = AuthorizationService(
                store, tokens.keys, issuer=tokens.issuer, audience=tokens.audience
            )
        await self.authz.reload(tokens.keys)
        if self.registrar is None:
            self.registrar = Registrar(
                self._registrar_settings(settings),
                snapshot,
                AccessTokenVerifier(tokens.keys, issuer=tokens.issuer, audience=tokens.audience),
                tag_factory=new_tag,  # RFC 3261 §19.3
            )
        else:
            # Same binding table; new rules, directory and keys.
            self.registrar.settings = self._registrar_settings(settings)
            if self.registrar.verifier.issuer != tokens.issuer:
                self.registrar.verifier = AccessTokenVerifier(
                    tokens.keys, issuer=tokens.issuer, audience=tokens.audience
                )
            else:
                self.registrar.verifier.replace_keys(tokens.keys)
        self.registrar.directory = snapshot
        self.directory = snapshot
        await self.catalog.load(records, mark=mark)  # the mode in effect (R8)

    def token_verify(self, token: str, now: float) -> AccessClaims:
        """Verify an access token (the registrar's verifier and its cache)."""
        assert self.registrar is not None
        return self.registrar.verifier.verify(token, now)

    def get_directory(self) -> Directory:
        """Devices, lines and revoked grants as this node knows them now."""
        return self.directory

    def _registrar_settings(self, settings: Mapping[str, object]) -> RegistrarSettings:
        return RegistrarSettings(
            realm=str(settings[keys_.SIP_REALM]),
            authz_server=str(settings[keys_.ISSUER]),
            host=self.config.hostname,
            challenge_style="proxy" if settings[keys_.CHALLENGE_STYLE] == "proxy" else "rfc8898",
            interval=int(str(settings[keys_.REGISTRATION_INTERVAL])),
        )

    async def ports(self) -> dict[str, int]:
        """The listener ports in force: the server's (R5), or `port_overrides`."""
        row = await self.store.nodes.get(self.config.node_name)
        if row is None:
            raise ServiceError(f"server {self.config.node_name!r} is not configured")
        ports = {
            OAUTH_PORT: row.oauth_port,
            MRA_PORT: row.mra_port,
            WEB_PORT: row.web_port,
            TFTP_PORT: row.tftp_port,
            TFTP_SECURE_PORT: row.tftp_secure_port,
        }
        return ports | dict(self.config.port_overrides)

    # -- the node and its services ----------------------------------------------------

    async def start(self) -> list[Listener]:
        """Start CallManager, Tomcat and TFTP, then the node's tasks (ServiceError
        when a service cannot start, e.g. its port is in use)."""
        async with self.services.lock:
            if await self.store.nodes.get(self.config.node_name) is None:
                raise RuntimeError(f"server {self.config.node_name!r} is not configured")
            await self.services.start(self.callmanager)  # loads the configuration
            await self.services.start(self.tomcat)
            await self.services.start(self.tftp)
            self._tasks = [
                asyncio.create_task(self._timer_loop(), name="sip-timers"),
                asyncio.create_task(self.mirror.run(self.config.mirror_interval), name="mirror"),
                asyncio.create_task(self._watch_config(), name="config-watch"),
                asyncio.create_task(self._watch_grants(), name="grant-watch"),
                asyncio.create_task(
                    watch_resets(
                        self.store,
                        self._bindings,
                        self.flows,
                        hostname=self.config.hostname,
                        before_notify=lambda reset: self.catalog.invalidate(reset.device),
                    ),
                    name="reset-watch",
                ),
                asyncio.create_task(self._purge_loop(), name="oauth-purge"),
                asyncio.create_task(self.control.run(), name="service-control"),
            ]
        return self.listeners

    async def start_service(self, name: str) -> str:
        """Start one service (`callmanager`, `tomcat`, `tftp`); what was done.
        ServiceError, recorded as ``failed``, when it cannot start."""
        return await self.services.run(name, "start")

    async def stop_service(self, name: str) -> str:
        """Stop one service; the node's other services and tasks keep running."""
        return await self.services.run(name, "stop")

    async def restart_service(self, name: str) -> str:
        """Restart one service: it applies the configuration in force, e.g. the mode
        and ports for CallManager (R8), and its "restart pending" is lowered."""
        return await self.services.run(name, "restart")

    async def stop(self) -> None:
        """Stop the node's tasks and services; drop its bindings and their mirror rows.
        A service command in progress finishes first."""
        async with self.services.lock:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception as exc:  # a dead task must not keep the node from stopping
                    log.warning("node task had failed", task=task.get_name(), error=str(exc))
            self._tasks.clear()
            for service in reversed(list(self.services)):
                if service.running:
                    with contextlib.suppress(Exception):
                        await self.services.stop(service)
            await self.drop_bindings()

    async def close(self) -> None:
        await self.stop()
        await self.store.close()

    # -- Tomcat (web) service ---------------------------------------------------------

    def web_app(self) -> Any:
        """The ASGI app the Tomcat service serves (built at each start)."""
        return build_web_app(
            self._authz,
            self._check_admin,
            api=ApiContext(
                store=self.store,
                node_name=self.config.node_name,
                hostname=self.config.hostname,
            ),
        )

    def _authz(self) -> AuthorizationService:
        assert self.authz is not None
        return self.authz

    async def _check_admin(self, username: str, password: str, peer: Peer) -> bool:
        """HTTP Basic check of an administrator (argon2 off the event loop, throttled)."""
        throttle = self._authz().throttle
        if throttle.wait("signin", peer.address, f"admin:{username}") is not None:
            return False
        ok = await admin.verify_admin_password(self.store, username, password)
        if not ok:
            throttle.failed("signin", peer.address, f"admin:{username}")
        return ok

    async def _purge_loop(self) -> None:
        """Daily: expired refresh tokens, authorization and activation codes, admin
        API tokens, and service commands older than a week go (the audit log stays)."""
        while True:
            try:
                purged = await self._authz().purge()
                now = datetime.now(UTC)
                purged["admin_tokens"] = await self.store.admin_tokens.purge_expired(now)
                purged["service_commands"] = await self.store.service_commands.purge(
                    now - timedelta(seconds=self.config.command_retention)
                )
                log.info("expired records purged", **purged)
            except Exception:
                log.exception("purge failed; will retry")
            await asyncio.sleep(self.config.purge_interval)

    # -- bindings: revocation, expiry, write-behind --------------------------------------

    def revoke_grant(self, sid: str) -> int:
        """Drop live registrations of a revoked grant at once; returns how many.

        A connection left with no registration is closed, so the device learns
        now, not at its next re-REGISTER: it reconnects, registers again, and the
        answer (401 invalid_token, "token revoked") tells it why.
        """
        self.directory.revoked.add(sid)
        if self.registrar is None:
            return 0
        table = self.registrar.table
        flows = {b.flow for b in table if b.sid == sid}
        changes = self.registrar.drop_grant(sid)
        self.mirror.queue(changes)
        for flow in flows - {b.flow for b in table}:
            self.flows.close(flow)
        return len(changes)

    async def drop_bindings(self) -> None:
        """Forget every binding: they live in this process only, so once CallManager
        stops they are not true any more; their mirror rows go too."""
        if self.registrar is not None:
            self.registrar.table = type(self.registrar.table)()
        await self.mirror.clear()

    def on_result(self, result: CoreResult) -> None:
        """What the SIP core did with one request: mirror binding changes, log refusals."""
        if result.changes:
            self.mirror.queue(result.changes)
        if result.status >= 400 and result.status not in (401, 407):
            log.info(
                "sip request refused",
                method=result.method,
                status=result.status,
                device=result.device,
                why=result.detail,
            )

    async def flush(self) -> None:
        """Write pending binding changes to the store now."""
        await self.mirror.flush()

    async def _watch_config(self) -> None:
        """Reload configuration when an administrator changes it (any process, any node)."""
        async with self.store.listen(CONFIG_CHANNEL) as changes:
            async for what in changes:
                # Right after a lost connection comes back the first reads may fail:
                # retry, or the node would run on what it had until the next change.
                await until_done("configuration reload", self.load, change=what)

    def _bindings(self) -> list[Binding]:
        return [] if self.registrar is None else list(self.registrar.table)

    async def _watch_grants(self) -> None:
        """Revocations are pushed to every node and take effect at once (DESIGN Tokens)."""
        async with self.store.listen(GRANTS_CHANNEL) as revoked:
            async for sid in revoked:
                if sid == CATCH_UP:  # notifications were lost: ask the database
                    await until_done("revocation catch-up", self._catch_up_revocations)
                    continue
                dropped = self.revoke_grant(sid)
                log.info("grant revoked", sid=sid, registrations_dropped=dropped)

    async def _catch_up_revocations(self) -> None:
        """Apply the revocations this node may not have heard of."""
        revoked = {g.sid for g in await self.store.grants.list_revoked()}
        held = set() if self.registrar is None else {b.sid for b in self.registrar.table}
        self.directory.revoked.update(revoked)
        for sid in held & revoked:
            dropped = self.revoke_grant(sid)
            log.info("grant revoked (caught up)", sid=sid, registrations_dropped=dropped)

    async def _timer_loop(self) -> None:
        interval = self.config.timer_interval
        last_idle_sweep = time.time()
        trimmed_at_accept = 0
        last_trim = last_idle_sweep
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            if self.registrar is not None:
                self.mirror.queue(self.registrar.expire(now))
            endpoint = self.callmanager.endpoint  # None while CallManager is stopped
            if endpoint is not None:
                endpoint.core.transactions.expire(now)
                if now - last_idle_sweep > 30:
                    last_idle_sweep = now
                    endpoint.close_idle(now, self.config.idle_timeout)
                # Give freed memory back (see _memory): now and then (~1 ms each),
                # and at once after a burst of handshakes (the count restarts with
                # the service).
                accepted = endpoint.accepted
                if accepted < trimmed_at_accept:
                    trimmed_at_accept = 0
                if (
                    accepted - trimmed_at_accept >= TRIM_AFTER_HANDSHAKES
                    or now - last_trim >= self.config.memory_trim_interval
                ):
                    trimmed_at_accept = accepted
                    last_trim = now
                    release_free_memory()
