"""What an edge runs with: its listeners, identity, nodes, and which node to try.

Sans-IO: dataclasses, the ``--node`` syntax, and :class:`NodeSelector`, which
is told of failures with ``now`` and never reads a clock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["EdgeConfig", "NodeAddress", "NodeSelector"]

DEFAULT_MRA_PORT: Final = 5091
DEFAULT_WEB_PORT: Final = 8443
DEFAULT_TFTP_PORT: Final = 6970
DEFAULT_TFTP_SECURE_PORT: Final = 6971


def _port(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{what} port {text!r}: a number from 1 to 65535")
    return int(text)


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """A call-control node the edge forwards to, with its ports."""

    host: str
    """Host name or IP address (IPv6 without brackets)."""
    mra_port: int = DEFAULT_MRA_PORT
    """SIP Mobile and Remote Access Port (mutual TLS)."""
    web_port: int = DEFAULT_WEB_PORT
    """Web service (HTTPS): the authorization server."""
    tftp_port: int = DEFAULT_TFTP_PORT
    """TFTP service, plain HTTP: the bootstrap files."""
    tftp_secure_port: int = DEFAULT_TFTP_SECURE_PORT
    """TFTP service, HTTPS: the device files."""

    @classmethod
    def parse(cls, text: str) -> NodeAddress:
        """``HOST[:MRA[:WEB[:TFTP:TFTPS]]]``; an IPv6 host in brackets (``[::1]:5091``)."""
        text = text.strip()
        if text.startswith("["):
            end = text.find("]")
            if end < 0:
                raise ValueError(f"node {text!r}: unclosed '[' around an IPv6 address")
            host, rest = text[1:end], text[end + 1 :]
            if rest and not rest.startswith(":"):
                raise ValueError(f"node {text!r}: ':' expected after ']'")
            ports = rest[1:].split(":") if rest else []
        else:
            host, *ports = text.split(":")
        if not host:
            raise ValueError(f"node {text!r}: no host")
        if len(ports) not in (0, 1, 2, 4):
            raise ValueError(f"node {text!r}: HOST[:MRA[:WEB[:TFTP:TFTPS]]]")
        names = ("MRA", "web", "TFTP", "TFTP HTTPS")
        numbers = [_port(port, name) for port, name in zip(ports, names, strict=False)]
        defaults = [DEFAULT_MRA_PORT, DEFAULT_WEB_PORT, DEFAULT_TFTP_PORT, DEFAULT_TFTP_SECURE_PORT]
        mra, web, tftp, tftps = numbers + defaults[len(numbers) :]
        return cls(host, mra, web, tftp, tftps)

    @property
    def url_host(self) -> str:
        """The host as it appears in a URL (IPv6 in brackets)."""
        try:
            if ipaddress.ip_address(self.host).version == 6:
                return f"[{self.host}]"
        except ValueError:
            pass
        return self.host

    def __str__(self) -> str:
        return (
            f"{self.url_host}:{self.mra_port}:{self.web_port}:"
            f"{self.tftp_port}:{self.tftp_secure_port}"
        )


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """How one ``sipoauth edge serve`` process runs (Expressway-C and -E in one)."""

    nodes: tuple[NodeAddress, ...]
    """Call-control nodes, in order of preference (the first reachable is used)."""
    server_cert: Path
    """Certificate chain (leaf first) the edge presents to devices outside; issued
    by a CA the phones trust (the phone-edge-trust store)."""
    server_key: Path
    """Its private key."""
    client_cert: Path
    """Certificate chain the edge presents to the nodes (mutual TLS); must chain
    to tomcat-trust and name an edge entry (R6)."""
    client_key: Path
    """Its private key."""
    node_ca_files: tuple[Path, ...]
    """CA certificate file(s) the nodes' web certificates are checked against."""
    public_host: str
    """The edge's name as devices reach it: in Path, in its Vias, in the push."""
    bind: str = "0.0.0.0"  # noqa: S104 - the edge serves the outside network
    """Address the outside listeners bind to."""
    sip_port: int = 5061
    """SIP over TLS for devices (0: any free port)."""
    web_port: int = 8443
    """HTTPS reverse proxy: OAuth endpoints and the TFTP HTTPS files (0: any)."""
    bootstrap_port: int = 6970
    """Plain HTTP: only ``caconfig.json`` (0: any)."""
    public_sip_port: int | None = None
    """The SIP port devices reach (in Path and Via); ``None``: the bound SIP port."""
    description: str = "sipoauth edge"
    """Sent with the certificate push (the entry's description)."""
    push_on_start: bool = True
    """Push the client certificate's names to the first reachable node on start."""
    push_settle: float = 0.5
    """Seconds between a successful push and serving devices: the node reloads
    its edge entries on the notification the push sends (``Edge.start``)."""
    max_message_size: int = 32 * 1024
    """Largest SIP message accepted from a device."""
    max_in_flight: int = 32
    """Requests per device connection forwarded and not yet answered."""
    require_ua_path_support: bool = False
    """RFC 3327 §5.2 strictly: 421 for a REGISTER without ``Supported: path``."""
    max_body_size: int = 64 * 1024
    """Largest HTTP request body accepted from outside (413 beyond)."""
    max_response_size: int = 1024 * 1024
    """Largest HTTP response body taken from a node (502 beyond)."""
    handshake_timeout: float = 10.0
    """Seconds a device gets to finish its TLS handshake."""
    connect_timeout: float = 5.0
    """Seconds to reach a node (TCP + TLS) before trying the next one."""
    upstream_timeout: float = 30.0
    """Seconds a node gets to answer an HTTP request (504 beyond)."""
    node_retry_after: float = 30.0
    """A node that could not be reached is tried last for this many seconds."""
    unavailable_grace: float = 5.0
    """When no node can be reached, how long a device connection is kept to
    answer its first request with 503 before it is closed."""
    retry_after: int = 30
    """Retry-After (seconds) of the 503 a device gets when no node is available."""

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("at least one node is needed")
        if not self.node_ca_files:
            raise ValueError("at least one CA file for the nodes' certificates is needed")
        if not self.public_host or any(c in self.public_host for c in " \t;<>\"'"):
            raise ValueError(f"public host {self.public_host!r}: a host name or IP address")


class NodeSelector:
    """Which node to try first: the configured order, except that a node which
    just failed is tried after the others for ``retry_after`` seconds (all
    failed: the configured order again)."""

    def __init__(self, nodes: Sequence[NodeAddress], retry_after: float) -> None:
        self.nodes = tuple(nodes)
        self.retry_after = retry_after
        self._failed_at: dict[NodeAddress, float] = {}

    def order(self, now: float) -> list[NodeAddress]:
        """Nodes to try, in order."""
        recent = {n for n, at in self._failed_at.items() if now - at < self.retry_after}
        return [n for n in self.nodes if n not in recent] + [n for n in self.nodes if n in recent]

    def failed(self, node: NodeAddress, now: float) -> None:
        """``node`` could not be reached."""
        self._failed_at[node] = now

    def succeeded(self, node: NodeAddress) -> None:
        """``node`` answered."""
        self._failed_at.pop(node, None)
