"""The node's services, each started, stopped and restarted on its own (R8).

DESIGN "One node, one process": Cisco CallManager (the SIP listeners on the
SIP Phone OAuth Port, TLS, and the SIP Mobile and Remote Access Port, mutual
TLS), Cisco Tomcat (HTTPS: the authorization server and the REST API) and
Cisco TFTP (the configuration files: HTTP 6970 bootstrap, HTTPS 6971 token-gated,
R10). A service is a small object with `start` and `stop`; the
:class:`Supervisor` runs one operation at a time and records each service's
state in the store's ``node_services`` (starting → running with what it
applied, stopping → stopped, or failed with the reason). A service that
starts applies the configuration in force (mode, ports, certificate) and
lowers its "restart pending". The node's other tasks (configuration and grant
watchers, the binding mirror, the control channel) run whichever services
are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import structlog

from sipoauth.admin._services import SERVICES
from sipoauth.pki import mtls_server_ssl_context, server_ssl_context
from sipoauth.provisioning import ConfigApp
from sipoauth.registrar import SipCore
from sipoauth.sip import ServerTransactions
from sipoauth.store import JsonValue, ServiceName, ServiceState, Store

from ._sip import ListenerSpec, SipEndpoint, open_listener
from ._web import WebListener, web_ssl_context

if TYPE_CHECKING:
    from ._node import Node

__all__ = [
    "CallManagerService",
    "Listener",
    "Service",
    "ServiceError",
    "Supervisor",
    "TftpService",
    "TomcatService",
]

log = structlog.get_logger("sipoauth.node")

OAUTH_PORT = "oauth"
MRA_PORT = "mra"
WEB_PORT = "web"
TFTP_PORT = "tftp"
TFTP_SECURE_PORT = "tftp_secure"
WEB_LISTENER = "Web (OAuth, administration)"


class ServiceError(RuntimeError):
    """A service operation refused or failed; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class Listener:
    """A listener the node opened, as `serve` prints it."""

    service: str
    name: str
    protocol: str
    host: str
    port: int


class Service(Protocol):
    """One service of the node."""

    name: ServiceName

    @property
    def running(self) -> bool:
        """Whether it listens."""
        ...

    @property
    def listeners(self) -> Sequence[Listener]:
        """What it listens on while running."""
        ...

    async def start(self) -> dict[str, JsonValue]:
        """Listen, with the configuration in force; return what it applied
        (``ports``, ``bind`` and, for CallManager, ``sip_oauth_mode``).
        On failure, nothing is left open."""
        ...

    async def stop(self) -> None:
        """Stop listening and close every connection; idempotent."""
        ...


class CallManagerService:
    """Cisco CallManager: the SIP registrar's two listeners (R5)."""

    name: ServiceName = "callmanager"

    def __init__(self, node: Node) -> None:
        self._node = node
        self._servers: list[asyncio.Server] = []
        self._listeners: list[Listener] = []
        self.endpoint: SipEndpoint | None = None
        """The connections' shared state while running."""

    @property
    def running(self) -> bool:
        return bool(self._servers)

    @property
    def listeners(self) -> Sequence[Listener]:
        return tuple(self._listeners)

    async def start(self) -> dict[str, JsonValue]:
        node, config = self._node, self._node.config
        ports = await node.ports()
        await node.load()  # R8: the mode in effect from now on (and all the rest)
        assert node.registrar is not None
        endpoint = SipEndpoint(
            SipCore(node.registrar, ServerTransactions()),
            node.flows,
            node_name=config.node_name,
            edges=lambda: node.edges,
            on_result=node.on_result,
            max_message_size=config.max_message_size,
            handshake_timeout=config.handshake_timeout,
        )
        pki = await node.refresh_identity()
        chain, key = pki.web_chain_path, pki.web_key_path
        specs = [
            ListenerSpec(
                "SIP Phone OAuth Port",
                config.bind,
                ports[OAUTH_PORT],
                server_ssl_context(chain, key),
                via_edge=False,
            ),
            ListenerSpec(
                "SIP Mobile and Remote Access Port",
                config.bind,
                ports[MRA_PORT],
                mtls_server_ssl_context(chain, key, node.trust_pems),
                via_edge=True,
            ),
        ]
        await node.drop_bindings()  # stale rows of a crash
        self.endpoint = endpoint
        try:
            for spec in specs:
                server = await open_listener(endpoint, spec)
                self._servers.append(server)
                bound = server.sockets[0].getsockname()[1]
                protocol = "mTLS" if spec.via_edge else "TLS"
                self._listeners.append(
                    Listener(SERVICES[self.name], spec.name, protocol, spec.host, bound)
                )
        except BaseException:
            await self.stop()
            raise
        bound_ports: dict[str, JsonValue] = {
            OAUTH_PORT: self._listeners[0].port,
            MRA_PORT: self._listeners[1].port,
        }
        return {
            "sip_oauth_mode": node.directory.oauth_mode,
            "ports": bound_ports,
            "bind": config.bind,
        }

    async def stop(self) -> None:
        """Close the listeners and every SIP connection; the bindings they held
        live in this process only, so they are dropped with their mirror rows."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        if self.endpoint is not None:
            self.endpoint.close_all()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        self._listeners.clear()
        self.endpoint = None
        await self._node.drop_bindings()


class TomcatService:
    """Cisco Tomcat: the HTTPS listener of the authorization server and REST API."""

    name: ServiceName = "tomcat"

    def __init__(self, node: Node) -> None:
        self._node = node
        self._web: WebListener | None = None
        self._listeners: list[Listener] = []

    @property
    def running(self) -> bool:
        return self._web is not None

    @property
    def listeners(self) -> Sequence[Listener]:
        return tuple(self._listeners)

    async def start(self) -> dict[str, JsonValue]:
        node, config = self._node, self._node.config
        ports = await node.ports()
        if node.authz is None:
            await node.load()
        pki = await node.refresh_identity()
        chain, key = pki.web_chain_path, pki.web_key_path
        context = web_ssl_context(
            server_ssl_context(chain, key), [*node.trust_pems, *node.mic_trust_pems]
        )
        web = WebListener(
            node.web_app(),
            host=config.bind,
            port=ports[WEB_PORT],
            ssl_context=context,
            classifier=lambda: node.peer_classifier,
        )
        bound = await web.start()
        self._web = web
        self._listeners = [Listener(SERVICES[self.name], WEB_LISTENER, "HTTPS", config.bind, bound)]
        bound_ports: dict[str, JsonValue] = {WEB_PORT: bound}
        return {"ports": bound_ports, "bind": config.bind}

    async def stop(self) -> None:
        """Stop listening; requests in progress finish, idle connections close."""
        web, self._web = self._web, None
        self._listeners.clear()
        if web is not None:
            await web.stop()


class TftpService:
    """Cisco TFTP: device configuration files (R10), HTTP 6970 and HTTPS 6971.

    6970 serves the bootstrap files only; 6971, with the web certificate,
    serves a device's file to the holder of its access token, and through an
    authenticated edge (mutual TLS, classified as on the web port) the MRA
    variant (``sipoauth.provisioning``).
    """

    name: ServiceName = "tftp"

    def __init__(self, node: Node) -> None:
        self._node = node
        self._webs: list[WebListener] = []
        self._listeners: list[Listener] = []

    @property
    def running(self) -> bool:
        return bool(self._webs)

    @property
    def listeners(self) -> Sequence[Listener]:
        return tuple(self._listeners)

    async def start(self) -> dict[str, JsonValue]:
        node, config = self._node, self._node.config
        ports = await node.ports()
        if node.registrar is None or not node.catalog.loaded:
            await node.load()
        catalog = node.catalog
        pki = await node.refresh_identity()
        chain, key = pki.web_chain_path, pki.web_key_path
        secure = web_ssl_context(
            server_ssl_context(chain, key), [*node.trust_pems, *node.mic_trust_pems]
        )
        specs = [
            ("TFTP HTTP", "HTTP", TFTP_PORT, ConfigApp(catalog, secure=False), None),
            (
                "TFTP HTTPS",
                "HTTPS",
                TFTP_SECURE_PORT,
                ConfigApp(
                    catalog, secure=True, verify=node.token_verify, directory=node.get_directory
                ),
                secure,
            ),
        ]
        bound: dict[str, JsonValue] = {}
        try:
            for name, protocol, key_, app, context in specs:
                web = WebListener(
                    app,
                    host=config.bind,
                    port=ports[key_],
                    ssl_context=context,
                    classifier=lambda: node.peer_classifier,
                )
                port = await web.start()
                self._webs.append(web)
                self._listeners.append(
                    Listener(SERVICES[self.name], name, protocol, config.bind, port)
                )
                bound[key_] = port
        except BaseException:
            await self.stop()
            raise
        return {"ports": bound, "bind": config.bind}

    async def stop(self) -> None:
        """Stop both listeners; requests in progress finish, idle connections close."""
        webs, self._webs = self._webs, []
        self._listeners.clear()
        for web in webs:
            await web.stop()


_PAST = {"start": "started", "stop": "stopped", "restart": "restarted"}


class Supervisor:
    """Runs start / stop / restart of the node's services, one at a time, and
    records their state in ``node_services``."""

    def __init__(self, store: Store, node_name: str, services: Sequence[Service]) -> None:
        self.store = store
        self.node_name = node_name
        self.services: dict[str, Service] = {s.name: s for s in services}
        self.lock = asyncio.Lock()
        """Held for each operation; the control channel claims a command under it."""

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services.values())

    def get(self, name: str) -> Service:
        """The service with that id (ServiceError when there is none)."""
        service = self.services.get(name)
        if service is None:
            raise ServiceError(f"unknown service {name!r}: one of {', '.join(self.services)}")
        return service

    async def run(self, name: str, action: str) -> str:
        """Start, stop or restart one service; a sentence saying what was done.
        ServiceError (after recording ``failed``) when it cannot be done."""
        async with self.lock:
            return await self.execute(name, action)

    async def execute(self, name: str, action: str) -> str:
        """:meth:`run`, for a caller that holds :attr:`lock`."""
        if action not in _PAST:
            raise ServiceError(f"unknown action {action!r}: start, stop or restart")
        service = self.get(name)
        display = SERVICES[service.name]
        if action == "start" and service.running:
            return f"{display} is running already"
        if action == "stop" and not service.running:
            return f"{display} is not running"
        if action != "start" and service.running:
            await self.stop(service)
        if action == "stop":
            return f"{display} stopped"
        return await self.start(service, _PAST[action])

    async def start(self, service: Service, done: str = "started") -> str:
        """Start a service (lock held) and record it; ServiceError on failure."""
        display = SERVICES[service.name]
        await self._report(service.name, "starting")
        # R8: this start applies the mode, ports and certificate in force, so what
        # waited for it is done. The flag is lowered *before* the service reads the
        # configuration: a change made meanwhile raises it again and is not lost.
        pending = await self._lower_restart_pending(service.name)
        try:
            applied = await service.start()
        except Exception as exc:
            message = f"{display} did not start: {exc or type(exc).__name__}"
            log.error("service did not start", service=display, why=str(exc))
            with contextlib.suppress(Exception):
                await service.stop()
            if pending:  # nothing was applied: the change still waits
                with contextlib.suppress(Exception):
                    await self.store.node_services.mark_restart_pending(
                        [self.node_name], [service.name]
                    )
            await self._report(service.name, "failed", message=message)
            raise ServiceError(message) from exc
        await self._report(service.name, "running", started_at=datetime.now(UTC), applied=applied)
        ports = ", ".join(f"{x.name} {x.port} ({x.protocol})" for x in service.listeners)
        message = f"{display} {done}: {ports}"
        mode = applied.get("sip_oauth_mode")
        if isinstance(mode, bool):
            message += f"; SIP OAuth mode {'enabled' if mode else 'disabled'}"
        log.info("service started", service=display, ports=ports)
        return message

    async def stop(self, service: Service) -> None:
        """Stop a service (lock held) and record it."""
        await self._report(service.name, "stopping")
        try:
            await service.stop()
        except Exception as exc:
            message = f"{SERVICES[service.name]} did not stop cleanly: {exc}"
            log.exception("service did not stop cleanly", service=SERVICES[service.name])
            await self._report(service.name, "failed", message=message)
            raise ServiceError(message) from exc
        await self._report(service.name, "stopped")
        log.info("service stopped", service=SERVICES[service.name])

    async def _lower_restart_pending(self, name: ServiceName) -> bool:
        """Lower the service's "restart pending"; whether it was raised."""
        try:
            record = await self.store.node_services.get(self.node_name, name)
            if record is None or not record.restart_pending:
                return False
            await self.store.node_services.clear_restart_pending(self.node_name, name)
        except Exception:
            log.warning("restart pending not lowered", service=name, exc_info=True)
            return False
        return True

    async def _report(
        self,
        name: ServiceName,
        state: ServiceState,
        *,
        started_at: datetime | None = None,
        applied: dict[str, JsonValue] | None = None,
        message: str = "",
    ) -> None:
        # Best effort: a state the store could not take must not stop the service.
        try:
            await self.store.node_services.set_state(
                self.node_name, name, state, started_at=started_at, applied=applied, message=message
            )
        except Exception:
            log.warning("service state not recorded", service=name, state=state, exc_info=True)
