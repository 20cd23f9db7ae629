"""What a simulated device reads: ``caconfig.json`` and the config files.

Sans-IO: bytes or text in, frozen dataclasses out; every problem is a
:class:`ConfigError` naming the file and what is wrong with it. Formats are
those of ``docs/provisioning.md``:

* ``caconfig.json`` (HTTP 6970): the phone-edge-trust bundle, the only
  certificates the phone trusts from then on (R3). Each PEM is checked
  against its listed SHA-256, and the bundle against its hash, so a bundle
  damaged in transit is refused rather than half trusted.
* ``XMLDefault.cnf.xml`` (6970): what an unconfigured phone needs — the token
  endpoint, the Default group's nodes and where to fetch files securely.
* ``<DEVICE>.cnf.xml`` (6971, Bearer token): the node list
  (``devicePool/callManagerGroup/members``, in priority order), the
  ``configVersion``, the lines, the access mode and the OAuth endpoints.

The node never sends a document type declaration, so one is refused outright:
no entity can be declared, let alone expanded (and ElementTree never fetches
external ones).
"""

from __future__ import annotations

import hashlib
import json
import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from ._address import ConfigError, EdgeAddress, ServerAddress, hostport

__all__ = [
    "CallManagerEntry",
    "ConfigError",
    "ConfigServer",
    "DefaultConfig",
    "DeviceFile",
    "EdgeAddress",
    "OAuthEndpoints",
    "ServerAddress",
    "TrustBundle",
    "parse_caconfig",
    "parse_default_config",
    "parse_device_file",
]

MAX_TRUST_CERTIFICATES: Final = 16
"""phone-edge-trust holds at most 16 certificates (REFERENCE-BEHAVIOUR)."""


# -- caconfig.json --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustBundle:
    """phone-edge-trust as ``caconfig.json`` listed it."""

    sha256: str
    """The bundle's hash (device files carry it as ``phoneEdgeTrust/sha256``)."""
    pems: tuple[str, ...]
    fingerprints: tuple[str, ...]
    """Lowercase hex SHA-256 of each certificate, in the order listed."""

    @property
    def count(self) -> int:
        return len(self.pems)


def parse_caconfig(body: bytes) -> TrustBundle:
    """``caconfig.json`` → the certificates to trust (ConfigError when malformed,
    empty, over 16, or when a fingerprint or the bundle hash does not match)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"caconfig.json is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("certificates"), list):
        raise ConfigError("caconfig.json: no 'certificates' list")
    entries: list[object] = data["certificates"]
    if not entries:
        raise ConfigError(
            "caconfig.json lists no certificate: upload the CA that signed the web "
            "certificate to phone-edge-trust (R3)"
        )
    if len(entries) > MAX_TRUST_CERTIFICATES:
        raise ConfigError(f"caconfig.json lists {len(entries)} certificates (at most 16)")
    pems: list[str] = []
    fingerprints: list[str] = []
    digest = hashlib.sha256()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("pem"), str):
            raise ConfigError(f"caconfig.json: certificate {number} has no 'pem'")
        try:
            der = ssl.PEM_cert_to_DER_cert(entry["pem"])
        except ValueError:
            raise ConfigError(f"caconfig.json: certificate {number} is not PEM") from None
        fingerprint = hashlib.sha256(der).hexdigest()
        listed = str(entry.get("sha256", "")).replace(":", "").lower()
        if listed != fingerprint:
            raise ConfigError(f"caconfig.json: certificate {number} does not match its sha256")
        digest.update(der)
        pems.append(entry["pem"])
        fingerprints.append(fingerprint)
    if str(data.get("sha256", "")).lower() != digest.hexdigest():
        raise ConfigError("caconfig.json: the bundle does not match its sha256")
    return TrustBundle(digest.hexdigest(), tuple(pems), tuple(fingerprints))


# -- the XML files --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OAuthEndpoints:
    """The authorization server as a file names it (``oauth``)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str


@dataclass(frozen=True, slots=True)
class CallManagerEntry:
    """One member of the device's CallManager group (a node, or an edge in the
    MRA variant), in the order the phone tries them."""

    name: str
    host: str
    """``processNodeName``: what the phone connects to."""
    sip_oauth_port: int
    """Where the phone registers (TLS; the edge's public SIP port in the MRA variant)."""
    secured_sip_port: int
    sip_mra_port: int

    @property
    def address(self) -> str:
        """``host:sipOAuthPort`` for status lines."""
        return hostport(self.host, self.sip_oauth_port)


@dataclass(frozen=True, slots=True)
class ConfigServer:
    """Where device files are fetched securely (``configServers``, TFTP HTTPS 6971)."""

    host: str
    port: int

    @property
    def base(self) -> str:
        return f"https://{hostport(self.host, self.port)}"

    @property
    def address(self) -> str:
        return hostport(self.host, self.port)


@dataclass(frozen=True, slots=True)
class DefaultConfig:
    """``XMLDefault.cnf.xml``."""

    sip_oauth_mode: bool
    oauth: OAuthEndpoints
    group: str
    call_managers: tuple[CallManagerEntry, ...]
    config_servers: tuple[ConfigServer, ...]
    trust_sha256: str


@dataclass(frozen=True, slots=True)
class DeviceFile:
    """``<DEVICE>.cnf.xml`` (either variant)."""

    name: str
    model: str
    device_type: str
    """``desk`` or ``soft``."""
    owner: str | None
    """``userId``: a soft client's owner."""
    config_version: int
    access_mode: str
    """``on-premises`` or ``mra``."""
    sip_oauth_mode: bool
    oauth_enabled: bool
    """The device's security profile enables OAuth (R9)."""
    oauth: OAuthEndpoints
    group: str
    call_managers: tuple[CallManagerEntry, ...]
    config_servers: tuple[ConfigServer, ...]
    """Empty in the MRA variant: files come through the edge."""
    lines: tuple[str, ...]
    """Directory numbers in button order."""
    trust_sha256: str


def _root(body: bytes, what: str, tag: str) -> ET.Element:
    if b"<!DOCTYPE" in body.upper():
        raise ConfigError(f"{what}: a document type declaration is not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD possible (checked above)
    except ET.ParseError as exc:
        raise ConfigError(f"{what} is not well-formed XML: {exc}") from None
    if root.tag != tag:
        raise ConfigError(f"{what}: root element <{root.tag}>, expected <{tag}>")
    return root


def _text(el: ET.Element, path: str, what: str) -> str:
    found = el.findtext(path)
    if found is None:
        raise ConfigError(f"{what}: <{path}> is missing")
    return found.strip()


def _int(el: ET.Element, path: str, what: str) -> int:
    value = _text(el, path, what)
    if not value.isdigit():
        raise ConfigError(f"{what}: <{path}> is not a number: {value[:20]!r}")
    return int(value)


def _port(el: ET.Element, path: str, what: str) -> int:
    port = _int(el, path, what)
    if port > 65535:
        raise ConfigError(f"{what}: <{path}> {port} is not a port")
    return port


def _prioritised(parent: ET.Element, path: str) -> list[ET.Element]:
    """Elements in ``priority`` order (attribute, then document order)."""
    found = parent.findall(path)

    def key(item: tuple[int, ET.Element]) -> tuple[int, int]:
        number, el = item
        priority = el.get("priority", "")
        return (int(priority) if priority.isdigit() else 1 << 30, number)

    return [el for _, el in sorted(enumerate(found), key=key)]


def _oauth(root: ET.Element, what: str) -> OAuthEndpoints:
    return OAuthEndpoints(
        _text(root, "oauth/issuer", what),
        _text(root, "oauth/authorizationEndpoint", what),
        _text(root, "oauth/tokenEndpoint", what),
    )


def _call_managers(root: ET.Element, what: str) -> tuple[str, tuple[CallManagerEntry, ...]]:
    group = root.find("devicePool/callManagerGroup")
    if group is None:
        raise ConfigError(f"{what}: <devicePool/callManagerGroup> is missing")
    entries = []
    for member in _prioritised(group, "members/member"):
        cm = member.find("callManager")
        if cm is None:
            raise ConfigError(f"{what}: a member without <callManager>")
        entries.append(
            CallManagerEntry(
                name=_text(cm, "name", what),
                host=_text(cm, "processNodeName", what),
                sip_oauth_port=_port(cm, "ports/sipOAuthPort", what),
                secured_sip_port=_port(cm, "ports/securedSipPort", what),
                sip_mra_port=_port(cm, "ports/sipMRAOAuthPort", what),
            )
        )
    if not entries:
        raise ConfigError(f"{what}: the CallManager group has no member")
    return _text(group, "name", what), tuple(entries)


def _config_servers(root: ET.Element, what: str) -> tuple[ConfigServer, ...]:
    return tuple(
        ConfigServer(_text(server, "host", what), _port(server, "securePort", what))
        for server in _prioritised(root, "configServers/configServer")
    )


def parse_default_config(body: bytes) -> DefaultConfig:
    """``XMLDefault.cnf.xml`` → where the token endpoint and the nodes are."""
    what = "XMLDefault.cnf.xml"
    root = _root(body, what, "Default")
    group, members = _call_managers(root, what)
    return DefaultConfig(
        sip_oauth_mode=_text(root, "sipOAuthMode", what) == "1",
        oauth=_oauth(root, what),
        group=group,
        call_managers=members,
        config_servers=_config_servers(root, what),
        trust_sha256=_text(root, "phoneEdgeTrust/sha256", what),
    )


def parse_device_file(body: bytes, name: str = "the device file") -> DeviceFile:
    """``<DEVICE>.cnf.xml`` → the device's nodes, lines and version."""
    what = name
    root = _root(body, what, "device")
    group, members = _call_managers(root, what)
    lines = tuple(
        _text(line, "name", what)
        for line in sorted(
            root.findall("sipProfile/sipLines/line"),
            key=lambda el: int(el.get("button", "0")) if el.get("button", "").isdigit() else 0,
        )
    )
    owner = root.findtext("userId")
    return DeviceFile(
        name=_text(root, "name", what),
        model=_text(root, "model", what),
        device_type=_text(root, "deviceType", what),
        owner=owner.strip() if owner else None,
        config_version=_int(root, "configVersion", what),
        access_mode=_text(root, "accessMode", what),
        sip_oauth_mode=_text(root, "sipOAuthMode", what) == "1",
        oauth_enabled=_text(root, "oauth/enabled", what) == "true",
        oauth=_oauth(root, what),
        group=group,
        call_managers=members,
        config_servers=_config_servers(root, what),
        lines=lines,
        trust_sha256=_text(root, "phoneEdgeTrust/sha256", what),
    )
