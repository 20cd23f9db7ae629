"""The node process: loads the cluster's configuration and runs its services.

The node runs the Cisco CallManager service (the SIP listeners on the SIP
Phone OAuth Port and the SIP MRA Port) and the Cisco Tomcat web service (the
authorization server on HTTPS 8443). Bindings live in memory and are mirrored
to the store (write-behind, coalesced per binding, retried on failure); the
registrar never waits for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sipoauth.admin import _settings as keys_
from sipoauth.oauth import AccessTokenVerifier, AuthorizationService, Peer
from sipoauth.pki import (
    EdgeEntry,
    NodePki,
    mtls_server_ssl_context,
    server_ssl_context,
)
from sipoauth.registrar import (
    Binding,
    BindingChange,
    BindingKey,
    CoreResult,
    DeviceInfo,
    DirectorySnapshot,
    Registrar,
    RegistrarSettings,
    SipCore,
)
from sipoauth.sip import ServerTransactions
from sipoauth.store import Registration, Store
from sipoauth.web import build_web_app

from ._bootstrap import PKI_DIR
from ._config import NodeConfig
from ._flows import FlowTable
from ._keys import token_context
from ._logging import configure_logging
from ._memory import release_free_memory
from ._sip import ListenerSpec, SipEndpoint, open_listener
from ._web import PeerClassifier, WebListener, web_ssl_context

log = structlog.get_logger("sipoauth.node")

CONFIG_CHANNEL = "config"
"""Notification channel: configuration changed; payload says what, for logs."""
GRANTS_CHANNEL = "grants"
"""Notification channel: a grant was revoked; payload is its sid."""
TRIM_AFTER_HANDSHAKES = 256
"""Return freed memory to the OS after this many new connections."""
OAUTH_PORT = "oauth"
MRA_PORT = "mra"
WEB_PORT = "web"
CALLMANAGER_TRUST = "callmanager-trust"
"""Trust store of phone manufacturer certificates (MICs)."""
_DUMMY_HASH = PasswordHasher().hash("not a password of anyone")


@dataclass(frozen=True, slots=True)
class Listener:
    """A listener the node opened, as `serve` prints it."""

    service: str
    name: str
    protocol: str
    host: str
    port: int


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
        self.authz: AuthorizationService | None = None
        self._web: WebListener | None = None
        self.registrar: Registrar | None = None
        self.listeners: list[Listener] = []
        self._servers: list[asyncio.Server] = []
        self._endpoint: SipEndpoint | None = None
        self._pending: dict[BindingKey, Binding | None] = {}
        self._mirrored: dict[BindingKey, tuple[tuple[str, tuple[str, ...], str], float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._tags = itertools.count(1)

    @classmethod
    async def open(cls, config: NodeConfig) -> Node:
        """Open the node's PKI and store; `start` loads the configuration."""
        pki, created = NodePki.load_or_create(
            config.data_dir / PKI_DIR, hostname=config.hostname, now=datetime.now(UTC)
        )
        if created:
            log.warning("pki was missing and has been created", dir=str(config.data_dir))
        store = await Store.open(config.database_url)
        return cls(config, store, pki)

    # -- configuration ----------------------------------------------------------------

    async def load(self) -> None:
        """(Re)load settings, keys, devices, edges and trust from the store."""
        store = self.store
        settings = {**keys_.DEFAULTS, **await store.settings.get_many()}
        tokens = await token_context(store)
        profiles = {p.name: p for p in await store.profiles.list()}
        devices = []
        for dev in await store.devices.list():
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
        if self._servers:
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
        self.peer_classifier = PeerClassifier.from_pems(
            self.edges, self.trust_pems, self.mic_trust_pems
        )
        if self.authz is None:
            self.authz = AuthorizationService(
                store, tokens.keys, issuer=tokens.issuer, audience=tokens.audience
            )
        await self.authz.reload(tokens.keys)
        if self.registrar is None:
            verifier = AccessTokenVerifier(
                tokens.keys, issuer=tokens.issuer, audience=tokens.audience
            )
            self.registrar = Registrar(
                self._registrar_settings(settings),
                snapshot,
                verifier,
                tag_factory=self._next_tag,
            )
        else:
            # Same binding table; new rules, directory and keys.
            self.registrar.settings = self._registrar_settings(settings)
            self.registrar.verifier.replace_keys(tokens.keys)
        self.registrar.directory = snapshot
        self.directory = snapshot

    def _registrar_settings(self, settings: Mapping[str, object]) -> RegistrarSettings:
        return RegistrarSettings(
            realm=str(settings[keys_.SIP_REALM]),
            authz_server=str(settings[keys_.ISSUER]),
            host=self.config.hostname,
            challenge_style="proxy" if settings[keys_.CHALLENGE_STYLE] == "proxy" else "rfc8898",
            interval=int(str(settings[keys_.REGISTRATION_INTERVAL])),
        )

    def _next_tag(self) -> str:
        return f"{next(self._tags):x}"

    # -- CallManager service ----------------------------------------------------------

    async def start(self) -> list[Listener]:
        """Start the SIP listeners and the node's timers."""
        config = self.config
        node_row = await self.store.nodes.get(config.node_name)
        if node_row is None:
            raise RuntimeError(f"server {config.node_name!r} is not configured")
        await self.load()  # the mode and ports in effect from now on (R8)
        overrides = dict(config.port_overrides)
        oauth_port = overrides.get(OAUTH_PORT, node_row.oauth_port)
        mra_port = overrides.get(MRA_PORT, node_row.mra_port)
        assert self.registrar is not None
        core = SipCore(self.registrar, ServerTransactions())
        self._endpoint = SipEndpoint(
            core,
            self.flows,
            node_name=config.node_name,
            edges=lambda: self.edges,
            on_result=self._on_result,
            max_message_size=config.max_message_size,
            handshake_timeout=config.handshake_timeout,
        )
        chain, key = self.pki.web_chain_path, self.pki.web_key_path
        specs = [
            ListenerSpec(
                "SIP Phone OAuth Port",
                config.bind,
                oauth_port,
                server_ssl_context(chain, key),
                via_edge=False,
            ),
            ListenerSpec(
                "SIP Mobile and Remote Access Port",
                config.bind,
                mra_port,
                mtls_server_ssl_context(chain, key, self.trust_pems),
                via_edge=True,
            ),
        ]
        await self.store.registrations.delete_node(config.node_name)  # stale rows of a crash
        for spec in specs:
            server = await open_listener(self._endpoint, spec)
            self._servers.append(server)
            port = server.sockets[0].getsockname()[1]
            self.listeners.append(
                Listener(
                    "Cisco CallManager",
                    spec.name,
                    "mTLS" if spec.via_edge else "TLS",
                    spec.host,
                    port,
                )
            )
        # R8: this start applies the mode and ports; what waited for it is done.
        sip_ports = [listener.port for listener in self.listeners]
        await self.store.node_services.clear_restart_pending(config.node_name, "callmanager")
        await self.store.node_services.set_state(
            config.node_name,
            "callmanager",
            "running",
            started_at=datetime.now(UTC),
            applied={
                "sip_oauth_mode": self.directory.oauth_mode,
                "ports": {"oauth": sip_ports[0], "mra": sip_ports[1]},
            },
        )
        await self._start_web(overrides.get(WEB_PORT, node_row.web_port))
        await self.store.node_services.clear_restart_pending(config.node_name, "tomcat")
        await self.store.node_services.set_state(
            config.node_name,
            "tomcat",
            "running",
            started_at=datetime.now(UTC),
            applied={"ports": {"web": self.listeners[-1].port}},
        )
        self._tasks = [
            asyncio.create_task(self._timer_loop(), name="sip-timers"),
            asyncio.create_task(self._mirror_loop(), name="binding-mirror"),
            asyncio.create_task(self._watch_config(), name="config-watch"),
            asyncio.create_task(self._watch_grants(), name="grant-watch"),
            asyncio.create_task(self._purge_loop(), name="oauth-purge"),
        ]
        return list(self.listeners)

    # -- Tomcat (web) service ---------------------------------------------------------

    async def _start_web(self, port: int) -> None:
        chain, key = self.pki.web_chain_path, self.pki.web_key_path
        context = web_ssl_context(
            server_ssl_context(chain, key), [*self.trust_pems, *self.mic_trust_pems]
        )
        app = build_web_app(self._authz, self._check_admin)
        self._web = WebListener(
            app,
            host=self.config.bind,
            port=port,
            ssl_context=context,
            classifier=lambda: self.peer_classifier,
        )
        bound = await self._web.start()
        name = "Web (OAuth, administration)"
        self.listeners.append(Listener("Cisco Tomcat", name, "HTTPS", self.config.bind, bound))

    def _authz(self) -> AuthorizationService:
        assert self.authz is not None
        return self.authz

    async def _check_admin(self, username: str, password: str, peer: Peer) -> bool:
        """HTTP Basic check of an administrator (argon2 off the event loop, throttled)."""
        throttle = self._authz().throttle
        if throttle.wait("signin", peer.address, f"admin:{username}") is not None:
            return False
        record = await self.store.admins.get(username)
        stored = record.password_hash if record is not None and record.active else _DUMMY_HASH

        def verify() -> bool:
            try:
                return PasswordHasher().verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        ok = await asyncio.to_thread(verify) and record is not None and record.active
        if not ok:
            throttle.failed("signin", peer.address, f"admin:{username}")
        return ok

    async def _purge_loop(self) -> None:
        """Daily: expired refresh tokens, authorization and activation codes go."""
        while True:
            try:
                purged = await self._authz().purge()
                log.info("expired oauth records purged", **purged)
            except Exception:
                log.exception("oauth purge failed; will retry")
            await asyncio.sleep(self.config.purge_interval)

    async def stop(self) -> None:
        """Stop listening, close connections, flush and clear this node's mirror rows."""
        started = bool(self._servers) or self._web is not None
        if self._web is not None:
            await self._web.stop()
            self._web = None
        for server in self._servers:
            server.close()
        if self._endpoint is not None:
            self._endpoint.close_all()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        self._servers.clear()
        self.listeners.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.registrar is not None:
            # Bindings live in this process only: once it stops they are not true any more.
            self.registrar.table = type(self.registrar.table)()
        self._pending.clear()
        self._mirrored.clear()
        with contextlib.suppress(Exception):
            await self.store.registrations.delete_node(self.config.node_name)
        if started:
            with contextlib.suppress(Exception):
                for service in ("callmanager", "tomcat"):
                    await self.store.node_services.set_state(
                        self.config.node_name, service, "stopped"
                    )

    async def close(self) -> None:
        await self.stop()
        await self.store.close()

    # -- bindings: revocation, expiry, write-behind --------------------------------------

    def revoke_grant(self, sid: str) -> int:
        """Drop live registrations of a revoked grant at once; returns how many."""
        self.directory.revoked.add(sid)
        if self.registrar is None:
            return 0
        changes = self.registrar.drop_grant(sid)
        self._queue(changes)
        return len(changes)

    def _on_result(self, result: CoreResult) -> None:
        if result.changes:
            self._queue(result.changes)
        if result.status >= 400 and result.status not in (401, 407):
            log.info(
                "sip request refused",
                method=result.method,
                status=result.status,
                device=result.device,
                why=result.detail,
            )

    def _queue(self, changes: list[BindingChange]) -> None:
        """Queue binding changes for the store, skipping refreshes it need not see.

        A re-REGISTER that changes nothing but the expiry is written only when the
        stored expiry would lag by more than `mirror_slack` seconds: the mirror is
        for seeing who is registered where, and a steady refresh rate of thousands
        per second must not become as many database writes.
        """
        pending = self._pending
        mirrored = self._mirrored
        slack = self.config.mirror_slack
        for change in changes:
            key, binding = change.key, change.binding
            if binding is not None and key not in pending:
                last = mirrored.get(key)
                if (
                    last is not None
                    and last[0] == (binding.contact, binding.path, binding.sid)
                    and binding.expires_at - last[1] < slack
                ):
                    continue
            pending[key] = binding

    async def _watch_config(self) -> None:
        """Reload configuration when an administrator changes it (any process, any node)."""
        async with self.store.listen(CONFIG_CHANNEL) as changes:
            async for what in changes:
                try:
                    await self.load()
                except Exception:
                    log.exception("configuration reload failed", change=what)

    async def _watch_grants(self) -> None:
        """Revocations are pushed to every node and take effect at once (DESIGN Tokens)."""
        async with self.store.listen(GRANTS_CHANNEL) as revoked:
            async for sid in revoked:
                dropped = self.revoke_grant(sid)
                log.info("grant revoked", sid=sid, registrations_dropped=dropped)

    async def _timer_loop(self) -> None:
        interval = self.config.timer_interval
        last_idle_sweep = time.time()
        trimmed_at_accept = 0
        last_trim = last_idle_sweep
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            if self.registrar is not None:
                self._queue(self.registrar.expire(now))
            if self._endpoint is not None:
                self._endpoint.core.transactions.expire(now)
                if now - last_idle_sweep > 30:
                    last_idle_sweep = now
                    self._endpoint.close_idle(now, self.config.idle_timeout)
                # Give freed memory back (see _memory): now and then (~1 ms each),
                # and at once after a burst of handshakes.
                accepted = self._endpoint.accepted
                if (
                    accepted - trimmed_at_accept >= TRIM_AFTER_HANDSHAKES
                    or now - last_trim >= self.config.memory_trim_interval
                ):
                    trimmed_at_accept = accepted
                    last_trim = now
                    release_free_memory()

    async def _mirror_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.mirror_interval)
            await self.flush()

    async def flush(self) -> None:
        """Write pending binding changes to the store; on failure keep them for later."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        upserts = [_record(b, self.config.node_name) for b in batch.values() if b is not None]
        deletes = [key for key, b in batch.items() if b is None]
        try:
            if upserts:
                await self.store.registrations.upsert_many(upserts)
            if deletes:
                await self.store.registrations.delete_many(deletes)
        except Exception:
            log.exception("binding mirror write failed; will retry", pending=len(batch))
            for key, value in batch.items():
                self._pending.setdefault(key, value)
            return
        mirrored = self._mirrored
        for key, b in batch.items():
            if b is None:
                mirrored.pop(key, None)
            else:
                mirrored[key] = ((b.contact, b.path, b.sid), b.expires_at)


def _record(binding: Binding, node_name: str) -> Registration:
    return Registration(
        aor=binding.aor,
        instance=binding.instance,
        device_name=binding.device,
        contact=binding.contact,
        node_name=node_name,
        transport="TLS",
        path=binding.path,
        expires_at=datetime.fromtimestamp(binding.expires_at, UTC),
        call_id=binding.call_id,
        cseq=binding.cseq,
        sid=binding.sid or None,
    )
