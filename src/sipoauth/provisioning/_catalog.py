"""The files the TFTP service serves, built from the store and kept in memory.

The cluster-wide facts (SIP OAuth mode, issuer, servers and their ports,
CallManager groups, security profiles, edges, MRA service domains, the
phone-edge-trust bundle) and every device record are read at
:meth:`ConfigCatalog.load`, which the node calls whenever the configuration
changes (with the device records it has just read itself). A device's file is
rendered on first request and kept until something changes: Reset / Apply
Config (:meth:`invalidate`: that device's record is read again, since only its
version changed), anything else the next ``load``. So a file fetch costs a
dictionary look-up, and the store is read once per change, never per request.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from sipoauth.admin import _settings as keys_
from sipoauth.oauth import Endpoints
from sipoauth.store import (
    DeviceRecord,
    EdgeRecord,
    NodeRecord,
    SecurityProfileRecord,
    Store,
)

from ._caconfig import TrustedCertificate, build_bundle
from ._documents import (
    CallManager,
    DefaultDocument,
    DeviceDocument,
    EdgeAddress,
    Line,
    MraSettings,
    OAuthSettings,
    TrustSummary,
    Variant,
    render_default,
    render_device,
)

__all__ = ["DEFAULT_GROUP", "ConfigCatalog", "Rendered"]

log = structlog.get_logger("sipoauth.provisioning")

DEFAULT_GROUP = "Default"
"""The group of a device that names none: every server, the publisher first."""
PHONE_EDGE_TRUST = "phone-edge-trust"
GZIP_MIN = 512
"""Bodies shorter than this are not worth compressing."""
MAX_CACHED = 50_000
"""Rendered device files kept at most (~3 KB each with the gzip form); past it
the cache starts again, so memory stays bounded whatever is asked."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A file ready to send: its bytes, its gzip form and their entity tags."""

    body: bytes
    etag: str
    gzipped: bytes | None
    """``body`` gzip-compressed, or None when it is too small to be worth it."""
    gzip_etag: str
    media_type: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> Rendered:
        digest = hashlib.sha256(body).hexdigest()[:32]
        packed = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN else None
        # RFC 9110 §8.8.3: a strong validator differs between content codings.
        return cls(body, f'"{digest}"', packed, f'"{digest}-gz"', media_type)


@dataclass(frozen=True, slots=True)
class _Cluster:
    """What :meth:`ConfigCatalog.load` read."""

    oauth_mode: bool
    endpoints: Endpoints
    realm: str
    nodes: Mapping[str, NodeRecord]
    default_order: tuple[str, ...]
    groups: Mapping[str, tuple[str, ...]]
    profiles: Mapping[str, SecurityProfileRecord]
    edges: tuple[EdgeRecord, ...]
    domains: Mapping[str, tuple[str, ...]]
    default_domain: str | None
    trust: TrustSummary
    caconfig: Rendered
    default_file: Rendered


def _call_manager(node: NodeRecord) -> CallManager:
    return CallManager(
        name=node.name,
        host=node.host,
        sip_port=node.sip_port,
        secure_sip_port=node.secure_sip_port,
        oauth_port=node.oauth_port,
        mra_port=node.mra_port,
        config_port=node.tftp_secure_port,
    )


def _edge_address(edge: EdgeRecord) -> EdgeAddress:
    return EdgeAddress(
        host=edge.public_host or edge.address,
        sip_port=edge.public_sip_port,
        web_port=edge.public_web_port,
    )


class ConfigCatalog:
    """Configuration files of one node's TFTP service."""

    def __init__(self, store: Store, *, oauth_mode: Callable[[], bool]) -> None:
        self._store = store
        self._oauth_mode = oauth_mode
        self._cluster: _Cluster | None = None
        self._devices: dict[str, DeviceRecord] = {}
        self._stale: set[str] = set()
        """Devices whose record changed since ``load`` (read again on request)."""
        self._invalidated: dict[str, int] = {}
        """Device → the :meth:`mark` at which it was last invalidated."""
        self._marks = 0
        self._files: dict[tuple[str, Variant, str | None], Rendered | None] = {}
        self._generation = 0

    @property
    def loaded(self) -> bool:
        return self._cluster is not None

    @property
    def realm(self) -> str:
        return self._require().realm

    @property
    def caconfig(self) -> Rendered:
        """`caconfig.json`."""
        return self._require().caconfig

    @property
    def default_file(self) -> Rendered:
        """`XMLDefault.cnf.xml`."""
        return self._require().default_file

    def _require(self) -> _Cluster:
        if self._cluster is None:
            raise RuntimeError("configuration catalog not loaded")
        return self._cluster

    def mark(self) -> int:
        """A point in the sequence of invalidations: take it *before* reading the
        device records given to :meth:`load`, so that a reset heard while they
        were read is not lost."""
        self._marks += 1
        return self._marks

    async def load(
        self, devices: Iterable[DeviceRecord] | None = None, *, mark: int | None = None
    ) -> None:
        """Read the cluster's configuration and the device records (``devices``,
        read after :meth:`mark` returned ``mark``, when the caller has just read
        them); forget every rendered file."""
        store = self._store
        if devices is None or mark is None:
            mark = self.mark()
            devices = await store.devices.list()
        records = {d.name: d for d in devices}
        settings = {**keys_.DEFAULTS, **await store.settings.get_many()}
        nodes = await store.nodes.list()  # publisher first, then by name
        groups = {g.name: tuple(g.nodes) for g in await store.callmanager_groups.list()}
        profiles = {p.name: p for p in await store.profiles.list()}
        edges = tuple(await store.edges.list())
        mra = await store.mra_domains.list()
        certs = [
            TrustedCertificate(c.fingerprint, c.pem, c.subject, c.issuer, c.not_before, c.not_after)
            for c in await store.trusted_certs.list(PHONE_EDGE_TRUST)
        ]
        bundle = build_bundle(certs)
        trust = TrustSummary(bundle.sha256, bundle.count)
        endpoints = Endpoints(str(settings[keys_.ISSUER]))
        mode = self._oauth_mode()
        default_order = tuple(n.name for n in nodes)
        by_name = {n.name: n for n in nodes}
        default = DefaultDocument(
            sip_oauth_mode=mode,
            group_name=DEFAULT_GROUP,
            call_managers=tuple(_call_manager(by_name[n]) for n in default_order),
            oauth=_oauth(endpoints, enabled=mode),
            trust=trust,
        )
        self._cluster = _Cluster(
            oauth_mode=mode,
            endpoints=endpoints,
            realm=str(settings[keys_.SIP_REALM]),
            nodes=by_name,
            default_order=default_order,
            groups=groups,
            profiles=profiles,
            edges=edges,
            domains={d.name: tuple(d.domains) for d in mra},
            default_domain=next((d.name for d in mra if d.is_default), None),
            trust=trust,
            caconfig=Rendered.of(bundle.body, "application/json"),
            default_file=Rendered.of(render_default(default), "application/xml"),
        )
        self._devices = records
        # Devices invalidated after the records were read are still stale.
        self._invalidated = {d: m for d, m in self._invalidated.items() if m > mark}
        self._stale = set(self._invalidated)
        self._generation += 1
        self._files.clear()

    def invalidate(self, device: str) -> None:
        """``device``'s record changed (Reset / Apply Config): forget its files and
        read the record again when it is next asked for."""
        self._generation += 1
        self._stale.add(device)
        self._invalidated[device] = self.mark()
        for key in [k for k in self._files if k[0] == device]:
            del self._files[key]

    async def device_file(
        self, name: str, variant: Variant = "on-premises", edge: str | None = None
    ) -> Rendered | None:
        """``name``'s file (None when there is no such device, or no such variant:
        MRA for a device not set up for it). ``edge`` is the address of the edge
        entry the request came through; it is listed first."""
        key = (name, variant, edge if variant == "mra" else None)
        if key in self._files:
            return self._files[key]
        generation = self._generation
        # A record changed since ``load`` (reset), or one this catalog has not seen
        # yet (the directory that let the request through may be a reload ahead):
        # read it. Only a token holder for that very device gets this far.
        if name in self._stale or name not in self._devices:
            record = await self._store.devices.get(name)
            if generation != self._generation:  # changed again meanwhile: do not keep
                return await self.device_file(name, variant, edge)
            self._stale.discard(name)
            if record is None:
                self._devices.pop(name, None)
            else:
                self._devices[name] = record
        else:
            record = self._devices[name]
        cluster = self._require()
        rendered: Rendered | None = None
        if record is not None:
            doc = self._document(cluster, record, edge)
            if variant == "on-premises" or (doc.mra is not None and doc.mra.edges):
                rendered = Rendered.of(render_device(doc, variant), "application/xml")
        if generation == self._generation:  # no change arrived while reading
            if len(self._files) >= MAX_CACHED:
                self._files.clear()
            self._files[key] = rendered
        return rendered

    def _document(self, cluster: _Cluster, dev: DeviceRecord, edge: str | None) -> DeviceDocument:
        profile = cluster.profiles.get(dev.profile_name) if dev.profile_name else None
        order = (
            cluster.groups.get(dev.callmanager_group, ())
            if dev.callmanager_group
            else cluster.default_order
        )
        group = dev.callmanager_group or DEFAULT_GROUP
        nodes = tuple(_call_manager(cluster.nodes[n]) for n in order if n in cluster.nodes)
        return DeviceDocument(
            name=dev.name,
            model=dev.model,
            device_type=dev.device_type,
            description=dev.description,
            owner=dev.owner_user_id,
            config_version=dev.config_version,
            security_profile=profile.name if profile else None,
            security_mode=profile.security_mode if profile else "non-secure",
            transport=profile.transport if profile else "TCP+UDP",
            oauth=_oauth(cluster.endpoints, enabled=bool(profile and profile.oauth)),
            sip_oauth_mode=cluster.oauth_mode,
            group_name=group,
            call_managers=nodes,
            lines=tuple(Line(line.position, line.dn) for line in dev.lines),
            trust=cluster.trust,
            mra=self._mra(cluster, dev, edge),
        )

    @staticmethod
    def _mra(cluster: _Cluster, dev: DeviceRecord, edge: str | None) -> MraSettings | None:
        """A soft client may always come through the edge; a desk phone when it is
        allowed activation via MRA (R12.1) or has an MRA service domain."""
        if dev.device_type == "desk" and not (
            dev.allow_activation_via_mra or dev.mra_service_domain
        ):
            return None
        domain = dev.mra_service_domain or cluster.default_domain
        edges: Sequence[EdgeRecord] = cluster.edges
        if edge is not None:  # the edge the phone came through first
            edges = sorted(edges, key=lambda e: e.address != edge)
        return MraSettings(
            service_domain=domain,
            domains=cluster.domains.get(domain, ()) if domain else (),
            edges=tuple(_edge_address(e) for e in edges),
            allow_activation_code=dev.allow_activation_via_mra,
        )


def _oauth(endpoints: Endpoints, *, enabled: bool) -> OAuthSettings:
    return OAuthSettings(
        enabled=enabled,
        issuer=endpoints.issuer,
        token_endpoint=endpoints.token,
        authorization_endpoint=endpoints.authorize,
    )
