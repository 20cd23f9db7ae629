"""Names in certificates, and matching a peer to a configured edge entry.

R6 / REFERENCE-BEHAVIOUR "Edge": a connection on the Mobile and Remote Access
port is accepted only when the client certificate chains to the tomcat-trust
store (done by the TLS handshake) *and* its subject CN or a SAN matches an
edge (Expressway-C) entry (done here, after the handshake).

Matching rules (RFC 6125 §6.4): case-insensitive, a DNS name's trailing dot is
ignored, IP addresses compare by value (``::1`` equals ``0:0:0:0:0:0:0:1``).
A wildcard is honoured only in the *entry's* names, only as the complete
left-most label (``*.example.com``), standing for exactly one label, never for
an IP address, and not directly under a single label (``*.com``). Names
containing ``*`` presented by the peer never match. Empty names never match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from ._errors import PkiError

__all__ = ["EdgeEntry", "host_matches", "match_edge", "normalise_name", "peer_names"]


def _ip_text(name: str) -> str | None:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return None


def normalise_name(name: str) -> str:
    """Lower-case, trimmed, without one trailing dot; IP literals in canonical text."""
    text = name.strip().lower()
    ip = _ip_text(text)
    if ip is not None:
        return ip
    return text.removesuffix(".")


def _pattern_matches(pattern: str, name: str) -> bool:
    """``pattern`` (an entry's name) against ``name`` (the peer's); both normalised."""
    if not pattern or not name or "*" in name:
        return False
    if not pattern.startswith("*."):
        return pattern == name
    suffix = pattern[1:]  # ".example.com"
    if "*" in suffix or suffix.count(".") < 2 or _ip_text(name) is not None:
        return False
    label = name.removesuffix(suffix)
    return label != name and bool(label) and "." not in label


def host_matches(patterns: Iterable[str], name: str) -> bool:
    """Whether ``name`` is matched by one of ``patterns`` (rules in the module doc)."""
    wanted = normalise_name(name)
    return any(_pattern_matches(normalise_name(p), wanted) for p in patterns)


def peer_names(der_cert: bytes) -> frozenset[str]:
    """Subject CN(s), SAN DNS names and SAN IP addresses of a DER certificate.

    Lower-cased (DNS without trailing dot) and IPs in canonical text, empty
    values dropped. Raises :class:`PkiError` for an unparsable certificate.
    """
    try:
        cert = x509.load_der_x509_certificate(der_cert)
        names: list[str] = [
            v if isinstance(v := attr.value, str) else v.decode("utf-8", "replace")
            for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            pass
        else:
            names.extend(san.get_values_for_type(x509.DNSName))
            names.extend(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except ValueError as exc:
        raise PkiError("peer certificate could not be parsed") from exc
    return frozenset(n for n in map(normalise_name, names) if n)


@dataclass(frozen=True)
class EdgeEntry:
    """A configured edge (Expressway-C) allowed to connect with mutual TLS (R6)."""

    address: str
    """Host name, FQDN or IP address of the edge (matched exactly, no wildcard)."""
    description: str
    """Free text shown to the administrator."""
    x509_names: tuple[str, ...]
    """Subject CN / SAN values expected in its certificate; may use ``*.`` (one label)."""
    domain: str | None = None
    """The edge's domain when it differs from the cluster's."""


def match_edge(names: frozenset[str], entries: Sequence[EdgeEntry]) -> EdgeEntry | None:
    """The first entry one of the peer's ``names`` matches, else ``None``."""
    peer = {n for n in map(normalise_name, names) if n and "*" not in n}
    if not peer:
        return None
    for entry in entries:
        address = normalise_name(entry.address)
        if address and "*" not in address and address in peer:
            return entry
        for pattern in map(normalise_name, entry.x509_names):
            if any(_pattern_matches(pattern, name) for name in peer):
                return entry
    return None
