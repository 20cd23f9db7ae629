"""The edge's own PKI: a CA, the certificate devices see, the one nodes see.

Layout of an edge directory (``sipoauth edge init``; mode 0700):

===============  ==================================================  ======
``ca.pem``       the edge CA: upload it to phone-edge-trust (phones     0644
                 check the edge with it) and tomcat-trust (nodes
                 check the edge's client certificate with it)
``ca.key``       its private key                                      0600
``server.pem``   outside certificate chain (leaf, CA): serverAuth,    0644
                 SANs: the name, ``localhost``, ``127.0.0.1``
``server.key``   its key                                              0600
``client.pem``   certificate chain presented to nodes (leaf, CA):     0644
                 clientAuth, CN and SAN = the name (what the node's
                 edge entry matches, R6)
``client.key``   its key                                              0600
``edge.json``    ``{"name": …}``, written last: the directory is      0644
                 complete when it exists
===============  ==================================================  ======

Files are written atomically, keys first. A directory without ``edge.json``
was never completed (nothing used it) and is written again from scratch; a
complete one is reused as it is, and must name the same edge.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from sipoauth.pki import (
    PkiError,
    cert_to_pem,
    generate_ca,
    issue_client_certificate,
    issue_server_certificate,
    key_to_pem,
)
from sipoauth.pki._files import PRIVATE_MODE, PUBLIC_MODE, write_atomic

__all__ = ["EdgeFiles", "init_edge_dir"]

CA_CERT: Final = "ca.pem"
CA_KEY: Final = "ca.key"
SERVER_CERT: Final = "server.pem"
SERVER_KEY: Final = "server.key"
CLIENT_CERT: Final = "client.pem"
CLIENT_KEY: Final = "client.key"
IDENTITY: Final = "edge.json"
_FILES: Final = (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY, CLIENT_CERT, CLIENT_KEY)
_CN_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class EdgeFiles:
    """A complete edge directory."""

    directory: Path
    name: str
    """The edge's name: its certificates' CN/SAN and, by default, its public host."""

    @property
    def ca_cert(self) -> Path:
        return self.directory / CA_CERT

    @property
    def server_cert(self) -> Path:
        return self.directory / SERVER_CERT

    @property
    def server_key(self) -> Path:
        return self.directory / SERVER_KEY

    @property
    def client_cert(self) -> Path:
        return self.directory / CLIENT_CERT

    @property
    def client_key(self) -> Path:
        return self.directory / CLIENT_KEY

    @classmethod
    def load(cls, directory: Path) -> EdgeFiles:
        """The edge directory at ``directory``; :class:`PkiError` says what is missing."""
        try:
            data = json.loads((directory / IDENTITY).read_text("utf-8"))
        except FileNotFoundError:
            raise PkiError(
                f"{directory} is not an edge directory: run 'sipoauth edge init'"
            ) from None
        except (OSError, ValueError) as exc:
            raise PkiError(f"cannot read {directory / IDENTITY}: {exc}") from None
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name:
            raise PkiError(f"{directory / IDENTITY} names no edge")
        for file in _FILES:
            if not (directory / file).is_file():
                raise PkiError(f"{directory / file} is missing")
        return cls(directory, name)


def _check_name(name: str) -> str:
    name = name.strip().lower().removesuffix(".")
    if not name or not name.isascii() or any(c in name for c in " \t/\\;:<>\"'*,"):
        try:
            return str(ipaddress.ip_address(name))
        except ValueError:
            raise PkiError(f"edge name {name!r}: a host name (ASCII) or an IP address") from None
    return name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def init_edge_dir(directory: Path, name: str, *, now: datetime) -> tuple[EdgeFiles, bool]:
    """Create the edge directory for ``name`` (the module doc); returns it and
    whether anything was created (``False``: it existed already, unchanged)."""
    name = _check_name(name)
    if (directory / IDENTITY).exists():
        files = EdgeFiles.load(directory)
        if files.name != name:
            raise PkiError(
                f"{directory} is the edge directory of {files.name!r}, not {name!r}: "
                "use another directory"
            )
        return files, False
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca, ca_key = generate_ca(f"sipoauth edge CA {name}"[:_CN_MAX], now=now)
    common_name = name if len(name) <= _CN_MAX else "sipoauth edge"
    ip_name = _is_ip(name)
    server, server_key = issue_server_certificate(
        ca,
        ca_key,
        common_name=common_name,
        dns_names=["localhost"] if ip_name else [name, "localhost"],
        ip_addresses=[name, "127.0.0.1"] if ip_name else ["127.0.0.1"],
        now=now,
    )
    client, client_key = issue_client_certificate(
        ca, ca_key, common_name=common_name, dns_names=[] if ip_name else [name], now=now
    )
    ca_pem = cert_to_pem(ca)
    write_atomic(directory / CA_KEY, key_to_pem(ca_key), mode=PRIVATE_MODE)
    write_atomic(directory / SERVER_KEY, key_to_pem(server_key), mode=PRIVATE_MODE)
    write_atomic(directory / CLIENT_KEY, key_to_pem(client_key), mode=PRIVATE_MODE)
    write_atomic(directory / CA_CERT, ca_pem, mode=PUBLIC_MODE)
    write_atomic(directory / SERVER_CERT, cert_to_pem(server) + ca_pem, mode=PUBLIC_MODE)
    write_atomic(directory / CLIENT_CERT, cert_to_pem(client) + ca_pem, mode=PUBLIC_MODE)
    identity = json.dumps({"name": name}).encode() + b"\n"
    write_atomic(directory / IDENTITY, identity, mode=PUBLIC_MODE)
    return EdgeFiles(directory, name), True
