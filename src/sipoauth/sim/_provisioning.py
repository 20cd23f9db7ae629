"""What a device fetches before it registers: trust, endpoints, its file.

:class:`Provisioning` follows docs/provisioning.md. ``caconfig.json`` and (on
premises) ``XMLDefault.cnf.xml`` come over plain HTTP from the bootstrap port
of the server or the edge; from then on the device trusts only the
certificates ``caconfig.json`` listed (R3). Its own file comes over HTTPS
with ``Authorization: Bearer`` (RFC 6750 §2.1, R10): on premises from the
config servers in order (``configServers``, the file's own list once it has
one), through an edge from the edge's web port. A server that cannot be
reached or answers 5xx makes the device try the next; 401/403/404 is the
same everywhere and ends the attempt with what the server said — 403/404
asked again a few times first (a node hears of a device just added a moment
later), a refusal for a revoked token is :class:`GrantRevoked`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence

from ._config import (
    ConfigError,
    ConfigServer,
    DefaultConfig,
    DeviceFile,
    EdgeAddress,
    ServerAddress,
    TrustBundle,
    parse_caconfig,
    parse_default_config,
    parse_device_file,
)
from ._errors import GrantRevoked, SimFailure
from ._http import HttpClient, HttpError, HttpResponse
from ._network import DeviceSettings, SimNetwork

__all__ = ["Provisioning", "download_config", "fetch_bootstrap"]

Emit = Callable[..., object]
"""``emit(kind, message, **data)``: the device's event sink."""


class Provisioning:
    """A device's sources: bootstrap, endpoints and config servers, and what
    they gave (``trust``, ``default``, ``file``)."""

    def __init__(
        self,
        *,
        server: ServerAddress | None,
        edge: EdgeAddress | None,
        network: SimNetwork,
        settings: DeviceSettings,
        emit: Emit,
    ) -> None:
        if (server is None) == (edge is None):
            raise ValueError("give a server (on premises) or an edge (MRA), not both")
        self.server = server
        self.edge = edge
        self.network = network
        self.settings = settings
        self._emit = emit
        self.trust: TrustBundle | None = None
        self.default: DefaultConfig | None = None
        """``XMLDefault.cnf.xml`` (on premises only)."""
        self.file: DeviceFile | None = None
        self._context: ssl.SSLContext | None = None

    @property
    def context(self) -> ssl.SSLContext:
        """The TLS context trusting phone-edge-trust (after ``bootstrap``)."""
        assert self._context is not None, "bootstrap first"
        return self._context

    async def bootstrap(self) -> None:
        """``caconfig.json``, then (on premises) ``XMLDefault.cnf.xml``."""
        http = self.network.http
        if self.edge is not None:
            base = self.edge.bootstrap_base
        else:
            assert self.server is not None
            base = self.server.bootstrap_base
        try:
            self.trust = parse_caconfig(await fetch_bootstrap(http, base, "caconfig.json"))
        except ConfigError as exc:
            raise SimFailure("bootstrap", str(exc)) from None
        self._context = self.network.context_for(self.trust)
        plural = "" if self.trust.count == 1 else "s"
        self._emit(
            "caconfig",
            f"caconfig.json: {self.trust.count} certificate{plural}",
            certificates=self.trust.count,
            sha256=self.trust.sha256,
        )
        if self.edge is not None:
            return  # through the edge: token endpoint and files at its web port
        try:
            self.default = parse_default_config(
                await fetch_bootstrap(http, base, "XMLDefault.cnf.xml")
            )
        except ConfigError as exc:
            raise SimFailure("bootstrap", str(exc)) from None
        self._emit(
            "default-config",
            f"XMLDefault.cnf.xml: token endpoint {self.default.oauth.token_endpoint}, "
            f"{len(self.default.call_managers)} node(s)",
            token_endpoint=self.default.oauth.token_endpoint,
        )

    def token_endpoint(self) -> str:
        """The file's (through an edge: at the edge), else the default file's."""
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

    def config_servers(self) -> tuple[ConfigServer, ...]:
        if self.edge is not None:
            return (ConfigServer(self.edge.host, self.edge.web_port),)
        if self.file is not None and self.file.config_servers:
            return self.file.config_servers
        assert self.default is not None
        return self.default.config_servers

    async def download(self, device: str, token: str) -> DeviceFile:
        """``<device>.cnf.xml`` with ``token``; emits ``config``."""
        self.file, source = await download_config(
            self.network.http,
            self.config_servers(),
            device,
            token,
            self.context,
            attempts=self.settings.config_attempts,
            retry_delay=self.settings.config_retry_delay,
        )
        lines = ", ".join(self.file.lines)
        self._emit(
            "config",
            f"config v{self.file.config_version} from {source} "
            f"({self.file.access_mode}, {len(self.file.call_managers)} node(s), lines {lines})",
            config_version=self.file.config_version,
            source=source,
            access_mode=self.file.access_mode,
        )
        return self.file


def _detail(response: HttpResponse) -> str:
    body = response.json()
    detail = body.get("detail") or body.get("error_description") or body.get("error")
    return detail if isinstance(detail, str) else ""


async def fetch_bootstrap(http: HttpClient, base: str, name: str) -> bytes:
    """``base``/``name`` over plain HTTP; ConfigError unless 200."""
    url = f"{base}/{name}"
    try:
        response = await http.get(url)
    except HttpError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if response.status != 200:
        detail = _detail(response)
        raise ConfigError(f"{url}: HTTP {response.status}" + (f" ({detail})" if detail else ""))
    return response.body


async def download_config(
    http: HttpClient,
    servers: Sequence[ConfigServer],
    device: str,
    token: str,
    context: ssl.SSLContext,
    *,
    attempts: int = 1,
    retry_delay: float = 5.0,
) -> tuple[DeviceFile, str]:
    """``<device>.cnf.xml`` from the first config server that serves it; the
    parsed file and the server (``host:port``) it came from.

    A 403 or 404 is asked again up to ``attempts`` times, ``retry_delay``
    seconds apart, as a phone retries its download: a node learns of a device
    just added (or set up for MRA) from a change notification, a moment later.
    """
    for _ in range(attempts - 1):
        try:
            return await _download(http, servers, device, token, context)
        except _NotYet:
            await asyncio.sleep(retry_delay)
    try:
        return await _download(http, servers, device, token, context)
    except _NotYet as exc:
        raise SimFailure("config", str(exc)) from None


class _NotYet(Exception):
    """403 / 404: perhaps the node has not heard of the device yet."""


async def _download(
    http: HttpClient,
    servers: Sequence[ConfigServer],
    device: str,
    token: str,
    context: ssl.SSLContext,
) -> tuple[DeviceFile, str]:
    problems: list[str] = []
    name = f"{device}.cnf.xml"
    for server in servers:
        url = f"{server.base}/{name}"
        try:
            response = await http.get(
                url, context=context, headers=[("Authorization", f"Bearer {token}")]
            )
        except HttpError as exc:
            problems.append(str(exc))
            continue
        if response.status >= 500:
            problems.append(f"{server.address}: HTTP {response.status}")
            continue
        if response.status != 200:
            detail = _detail(response)
            text = f"{name} from {server.address}: HTTP {response.status}" + (
                f" ({detail})" if detail else ""
            )
            if response.status == 401 and "revoked" in detail:
                raise GrantRevoked(text)
            if response.status in (403, 404):
                raise _NotYet(text)
            raise SimFailure("config", text)
        try:
            parsed = parse_device_file(response.body, name)
        except ConfigError as exc:
            raise SimFailure("config", str(exc)) from None
        if parsed.name.upper() != device.upper():
            raise SimFailure("config", f"{name} from {server.address} names {parsed.name}")
        if not parsed.lines:
            raise SimFailure("config", f"{name} lists no line to register")
        return parsed, server.address
    if not servers:
        raise SimFailure("config", "no config server is known")
    raise SimFailure("config", f"{name}: no config server answered: " + "; ".join(problems))
