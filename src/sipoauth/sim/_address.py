"""Where a simulated device first goes: ``--server`` and ``--edge`` addresses.

An unconfigured phone knows one address: the node's (its bootstrap port,
6970, serves ``caconfig.json`` and ``XMLDefault.cnf.xml``) or, outside, the
edge's (R12.3: SIP TLS, HTTPS and bootstrap ports). Every port can be given,
since tests and labs run on ports other than the defaults; an IPv6 host goes
in brackets (``[2001:db8::1]:6970``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "BOOTSTRAP_PORT",
    "EDGE_SIP_PORT",
    "EDGE_WEB_PORT",
    "ConfigError",
    "EdgeAddress",
    "ServerAddress",
    "hostport",
]

BOOTSTRAP_PORT: Final = 6970
"""TFTP HTTP port: ``caconfig.json`` and ``XMLDefault.cnf.xml``."""
EDGE_SIP_PORT: Final = 5061
"""An edge's public SIP TLS port (Expressway-E default)."""
EDGE_WEB_PORT: Final = 8443
"""An edge's public HTTPS port (OAuth endpoints and files)."""


class ConfigError(Exception):
    """A bootstrap or config file, or an address, that cannot be used."""


def _split(text: str, most: int, what: str) -> tuple[str, list[int]]:
    """``HOST[:P1[:P2…]]`` with at most ``most`` ports; an IPv6 host in brackets."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"{what} {text!r}: unclosed '['")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ConfigError(f"{what} {text!r}: ':' expected after ']'")
        parts = rest[1:].split(":") if rest else []
    else:
        host, *parts = text.split(":")
    if not host:
        raise ConfigError(f"{what} {text!r}: no host")
    if len(parts) > most:
        raise ConfigError(f"{what} {text!r}: at most {most} port(s) after the host")
    ports: list[int] = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            raise ConfigError(f"{what} {text!r}: {part!r} is not a port (1-65535)")
        ports.append(int(part))
    return host, ports


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """A node as a phone inside the network first knows it (``--server``)."""

    host: str
    bootstrap_port: int = BOOTSTRAP_PORT
    """TFTP HTTP port (6970): ``caconfig.json`` and ``XMLDefault.cnf.xml``."""

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        """``HOST[:BOOTSTRAP]``."""
        host, ports = _split(text, 1, "server")
        return cls(host, *ports)

    @property
    def bootstrap_base(self) -> str:
        return f"http://{hostport(self.host, self.bootstrap_port)}"


@dataclass(frozen=True, slots=True)
class EdgeAddress:
    """An edge as an outside phone first knows it (``--edge``, R12.3)."""

    host: str
    sip_port: int = EDGE_SIP_PORT
    """Public SIP TLS port."""
    web_port: int = EDGE_WEB_PORT
    """Public HTTPS port: the token endpoint and the config files."""
    bootstrap_port: int = BOOTSTRAP_PORT
    """Plain HTTP port serving ``caconfig.json``."""

    @classmethod
    def parse(cls, text: str) -> EdgeAddress:
        """``HOST[:SIP[:WEB[:BOOTSTRAP]]]``."""
        host, ports = _split(text, 3, "edge")
        return cls(host, *ports)

    @property
    def bootstrap_base(self) -> str:
        return f"http://{hostport(self.host, self.bootstrap_port)}"

    @property
    def web_base(self) -> str:
        return f"https://{hostport(self.host, self.web_port)}"
