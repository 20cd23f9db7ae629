"""The configuration documents: `<DEVICE>.cnf.xml` and `XMLDefault.cnf.xml`.

Sans-IO: plain values in, bytes out. The format is modelled on the reference
(REFERENCE-BEHAVIOUR "Configuration files"): the device's CallManager group
lists its nodes in order, each with ``<ports>`` carrying ``sipPort``,
``securedSipPort``, ``sipOAuthPort`` and ``sipMRAOAuthPort``; the cluster's
``sipOAuthMode`` is 1 or 0. ``docs/provisioning.md`` describes every element
and ``schema/device-config.xsd`` (package data) is its schema; the tests
validate every document this module writes against it.

Through Mobile and Remote Access the same device gets the *MRA variant*: the
group lists the edges (their public address and SIP port) instead of the
nodes, since an outside phone cannot reach a node (issue 5 point 4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal
from xml.etree.ElementTree import Element, SubElement, indent, tostring

__all__ = [
    "FORMAT_VERSION",
    "CallManager",
    "DefaultDocument",
    "DeviceDocument",
    "EdgeAddress",
    "Line",
    "MraSettings",
    "OAuthSettings",
    "TrustSummary",
    "Variant",
    "render_default",
    "render_device",
]

Variant = Literal["on-premises", "mra"]

FORMAT_VERSION: Final = 1
"""``formatVersion`` of the documents (bumped on an incompatible change)."""


@dataclass(frozen=True, slots=True)
class CallManager:
    """One node of a CallManager group, as a phone reaches it."""

    name: str
    """The server's name in the cluster."""
    host: str
    """Host name or IP address the phone connects to."""
    sip_port: int
    secure_sip_port: int
    oauth_port: int
    """SIP Phone OAuth Port (TLS, R5; 5090)."""
    mra_port: int
    """SIP Mobile and Remote Access Port (mutual TLS from the edge, R5; 5091)."""
    config_port: int
    """Its TFTP HTTPS port (6971), where the phone fetches its file."""


@dataclass(frozen=True, slots=True)
class EdgeAddress:
    """An edge (Expressway) as an outside phone reaches it."""

    host: str
    sip_port: int
    """The edge's public SIP TLS port."""
    web_port: int
    """The edge's public HTTPS port (OAuth endpoints and configuration files)."""


@dataclass(frozen=True, slots=True)
class MraSettings:
    """Mobile and Remote Access settings of a device set up for it."""

    service_domain: str | None
    """The MRA service domain entry's name (None when none is configured)."""
    domains: tuple[str, ...]
    """Its DNS names, which the phone resolves to find the edge."""
    edges: tuple[EdgeAddress, ...]
    allow_activation_code: bool


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    """Where the phone gets and refreshes its tokens."""

    enabled: bool
    """The device's security profile enables OAuth (R9)."""
    issuer: str
    """The authorization server's issuer URL (RFC 8414)."""
    token_endpoint: str
    authorization_endpoint: str


@dataclass(frozen=True, slots=True)
class TrustSummary:
    """The phone-edge-trust bundle (`caconfig.json`), by hash."""

    sha256: str
    """Lowercase hex SHA-256 of the bundle (see ``caconfig``)."""
    count: int


@dataclass(frozen=True, slots=True)
class Line:
    """A line (directory number) on a button."""

    button: int
    dn: str


@dataclass(frozen=True, slots=True)
class DeviceDocument:
    """Everything `<DEVICE>.cnf.xml` says."""

    name: str
    model: str
    device_type: str
    """``desk`` (desk phone) or ``soft`` (soft client)."""
    description: str
    owner: str | None
    config_version: int
    """Bumped by Apply Config / Reset; the phone compares it with its own."""
    security_profile: str | None
    security_mode: str
    """``non-secure``, ``authenticated`` or ``encrypted`` (R9)."""
    transport: str
    """``TCP``, ``UDP``, ``TCP+UDP`` or ``TLS`` (R9)."""
    oauth: OAuthSettings
    sip_oauth_mode: bool
    group_name: str
    call_managers: tuple[CallManager, ...]
    lines: tuple[Line, ...]
    trust: TrustSummary
    mra: MraSettings | None
    """Present for a device set up for Mobile and Remote Access."""


@dataclass(frozen=True, slots=True)
class DefaultDocument:
    """Everything `XMLDefault.cnf.xml` (the file for unknown devices) says."""

    sip_oauth_mode: bool
    group_name: str
    call_managers: tuple[CallManager, ...]
    oauth: OAuthSettings
    trust: TrustSummary


# Characters XML 1.0 cannot carry at all (§2.2); the admin rules keep them out
# of names and descriptions, and this keeps any that slipped by from making the
# whole document unreadable.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(parent: Element, tag: str, value: object) -> Element:
    child = SubElement(parent, tag)
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    else:
        child.text = _NOT_XML.sub("", str(value))
    return child


def _group(
    parent: Element, name: str, members: Sequence[tuple[str, str, tuple[int, int, int, int]]]
) -> None:
    group = SubElement(parent, "callManagerGroup")
    _text(group, "name", name)
    listed = SubElement(group, "members")
    for priority, (cm_name, host, (sip, secure, oauth, mra)) in enumerate(members):
        member = SubElement(listed, "member", priority=str(priority))
        cm = SubElement(member, "callManager")
        _text(cm, "name", cm_name)
        _text(cm, "processNodeName", host)
        ports = SubElement(cm, "ports")
        _text(ports, "sipPort", sip)
        _text(ports, "securedSipPort", secure)
        _text(ports, "sipOAuthPort", oauth)
        _text(ports, "sipMRAOAuthPort", mra)


def _node_members(
    nodes: Sequence[CallManager],
) -> list[tuple[str, str, tuple[int, int, int, int]]]:
    return [
        (n.name, n.host, (n.sip_port, n.secure_sip_port, n.oauth_port, n.mra_port)) for n in nodes
    ]


def _edge_members(edges: Sequence[EdgeAddress]) -> list[tuple[str, str, tuple[int, int, int, int]]]:
    # An outside phone has one way in: the edge's SIP TLS port (no plain SIP).
    return [(e.host, e.host, (0, e.sip_port, e.sip_port, e.sip_port)) for e in edges]


def _oauth(parent: Element, oauth: OAuthSettings, via: EdgeAddress | None = None) -> None:
    """The authorization server; through an edge, its endpoints at the edge's
    web port (the edge relays them; the issuer, which tokens name, stays)."""
    authorize, token = oauth.authorization_endpoint, oauth.token_endpoint
    if via is not None:
        base = oauth.issuer.rstrip("/")
        host = f"[{via.host}]" if ":" in via.host else via.host
        edge = f"https://{host}:{via.web_port}"
        authorize = edge + authorize.removeprefix(base)
        token = edge + token.removeprefix(base)
    el = SubElement(parent, "oauth")
    _text(el, "enabled", oauth.enabled)
    _text(el, "issuer", oauth.issuer)
    _text(el, "authorizationEndpoint", authorize)
    _text(el, "tokenEndpoint", token)


def _config_servers(parent: Element, nodes: Sequence[CallManager]) -> None:
    el = SubElement(parent, "configServers")
    for priority, node in enumerate(nodes):
        server = SubElement(el, "configServer", priority=str(priority))
        _text(server, "host", node.host)
        _text(server, "securePort", node.config_port)


def _trust(parent: Element, trust: TrustSummary) -> None:
    el = SubElement(parent, "phoneEdgeTrust")
    _text(el, "sha256", trust.sha256)
    _text(el, "certificates", trust.count)


def _finish(root: Element) -> bytes:
    indent(root, space="  ")
    text: str = tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text.encode() + b"\n"


def render_device(doc: DeviceDocument, variant: Variant = "on-premises") -> bytes:
    """`<DEVICE>.cnf.xml` for ``doc``; ``variant="mra"`` for a request that came
    through an edge (the group lists the edges; ValueError when the device is
    not set up for MRA or no edge is configured)."""
    if variant == "mra" and (doc.mra is None or not doc.mra.edges):
        raise ValueError(f"{doc.name} has no MRA variant")
    root = Element("device")
    _text(root, "formatVersion", FORMAT_VERSION)
    _text(root, "fullConfig", True)
    _text(root, "deviceProtocol", "SIP")
    _text(root, "name", doc.name)
    _text(root, "model", doc.model)
    _text(root, "deviceType", doc.device_type)
    _text(root, "description", doc.description)
    if doc.owner is not None:
        _text(root, "userId", doc.owner)
    _text(root, "configVersion", doc.config_version)
    _text(root, "accessMode", variant)
    _text(root, "sipOAuthMode", 1 if doc.sip_oauth_mode else 0)
    security = SubElement(root, "security")
    if doc.security_profile is not None:
        _text(security, "profile", doc.security_profile)
    _text(security, "deviceSecurityMode", doc.security_mode)
    _text(security, "transportLayerProtocol", doc.transport)
    _oauth(root, doc.oauth, doc.mra.edges[0] if variant == "mra" and doc.mra else None)
    pool = SubElement(root, "devicePool")
    if variant == "mra":
        assert doc.mra is not None
        _group(pool, "MRA", _edge_members(doc.mra.edges))
    else:
        _group(pool, doc.group_name, _node_members(doc.call_managers))
        _config_servers(root, doc.call_managers)
    sip = SubElement(SubElement(root, "sipProfile"), "sipLines")
    for line in doc.lines:
        el = SubElement(sip, "line", button=str(line.button))
        _text(el, "featureID", 9)  # Cisco's feature id of a line button
        _text(el, "name", line.dn)
        _text(el, "displayName", line.dn)
    _trust(root, doc.trust)
    if doc.mra is not None:
        mra = SubElement(root, "mra")
        _text(mra, "allowActivationCode", doc.mra.allow_activation_code)
        if doc.mra.service_domain is not None:
            domain = SubElement(mra, "serviceDomain", name=doc.mra.service_domain)
            for name in doc.mra.domains:
                _text(domain, "domain", name)
        edges = SubElement(mra, "edges")
        for priority, edge in enumerate(doc.mra.edges):
            el = SubElement(edges, "edge", priority=str(priority))
            _text(el, "host", edge.host)
            _text(el, "sipPort", edge.sip_port)
            _text(el, "webPort", edge.web_port)
    return _finish(root)


def render_default(doc: DefaultDocument) -> bytes:
    """`XMLDefault.cnf.xml`: what an unknown device needs to find the secure
    configuration port and the authorization server — and nothing about any
    device (it is served without authentication on 6970)."""
    root = Element("Default")
    _text(root, "formatVersion", FORMAT_VERSION)
    _text(root, "sipOAuthMode", 1 if doc.sip_oauth_mode else 0)
    _oauth(root, doc.oauth)
    pool = SubElement(root, "devicePool")
    _group(pool, doc.group_name, _node_members(doc.call_managers))
    _config_servers(root, doc.call_managers)
    _trust(root, doc.trust)
    return _finish(root)
