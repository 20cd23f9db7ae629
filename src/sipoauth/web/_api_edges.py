"""REST routes: edge (Expressway-C) entries (R6), their certificate push, MRA service domains.

``POST /edges/push`` is the edge's own endpoint (reference behaviour: the edge
pushes its certificate's CN/SANs to the server). It takes no administrator:
the caller must be on a mutual-TLS connection of the web port whose client
certificate chains to the tomcat-trust store (checked here against the
store as it is now, with the intermediates the client sent). The names are
read from that certificate (``admin.record_edge_certificate``), never from
the body. The entry updated is the connection's source address, or an
address the body names that is the source address or a name of the
certificate — an edge cannot rewrite another edge's entry.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from sipoauth import admin
from sipoauth.oauth import Peer
from sipoauth.pki import ChainVerificationError, PkiError, load_certs_pem, peer_names, verify_chain
from sipoauth.store import EdgeRecord, MraDomainRecord

from ._api_base import ApiError, Body, Ctx, Out, Who, absent

__all__ = ["mra_router", "push_router", "router"]

router = APIRouter(tags=["edges"])
push_router = APIRouter(tags=["edges"])
mra_router = APIRouter(tags=["mra-domains"])

EdgeAddress = Annotated[str, Path(description="The entry's IP address, host name or FQDN.")]
_NAMES_MAX = 100
_PORT: Final[dict[str, Any]] = {"ge": admin.EDGE_PORT_MIN, "le": admin.EDGE_PORT_MAX}
_PUBLIC_HOST = "Host name or IP address phones outside reach it at (MRA config files)"
_SIP_PORT = "Its SIP TLS port for phones outside."
_WEB_PORT = "Its HTTPS port for phones outside."


def _port(default: int, description: str) -> Any:
    return Field(default=default, description=description, **_PORT)


class EdgeOut(Out):
    """An edge entry: who may connect to the SIP MRA port."""

    address: str = Field(description="IP address, host name or FQDN.")
    description: str = Field(description="Free text.")
    x509_names: list[str] = Field(description="Subject names / SANs accepted from its certificate.")
    domain: str | None = Field(description="The edge's domain when it differs from ours.")
    public_host: str | None = Field(description=_PUBLIC_HOST + "; null: its address.")
    public_sip_port: int = Field(description=_SIP_PORT)
    public_web_port: int = Field(description=_WEB_PORT)
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")

    @classmethod
    def of(cls, edge: EdgeRecord) -> EdgeOut:
        return cls(
            address=edge.address,
            description=edge.description,
            x509_names=list(edge.x509_names),
            domain=edge.domain,
            public_host=edge.public_host,
            public_sip_port=edge.public_sip_port,
            public_web_port=edge.public_web_port,
            created_at=edge.created_at,
            updated_at=edge.updated_at,
        )


class EdgeNew(Body):
    """A new edge entry."""

    address: str = Field(description="IP address, host name or FQDN.", max_length=253)
    description: str = Field(default="", description="Free text, one line.", max_length=512)
    x509_names: list[str] = Field(
        default=[], description="Subject names / SANs of its certificate.", max_length=_NAMES_MAX
    )
    domain: str | None = Field(default=None, description="Its domain, if not ours.")
    public_host: str | None = Field(
        default=None, description=_PUBLIC_HOST + "; null: its address.", max_length=253
    )
    public_sip_port: int = _port(5061, _SIP_PORT)
    public_web_port: int = _port(8443, _WEB_PORT)


class EdgeChange(Body):
    """Fields to change (those left out stay)."""

    description: str = absent("Free text, one line.", max_length=512)
    x509_names: list[str] = absent("Replaces the whole list.", max_length=_NAMES_MAX)
    domain: str | None = Field(default=None, description='Its domain; null or "" removes it.')
    public_host: str | None = Field(
        default=None,
        description=_PUBLIC_HOST + '; null or "": its address.',
        max_length=253,
    )
    public_sip_port: int = absent(_SIP_PORT, **_PORT)
    public_web_port: int = absent(_WEB_PORT, **_PORT)


class EdgePush(Body):
    """What an edge may say about itself when it pushes its certificate."""

    address: str | None = Field(
        default=None,
        description="The entry to update: the connection's source address (the default) "
        "or a name of the certificate.",
        max_length=253,
    )
    description: str | None = Field(default=None, description="A new description.", max_length=512)


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower().rstrip(".") == b.lower().rstrip(".")


@router.get("/edges", operation_id="list_edges")
async def list_edges(
    ctx: Ctx,
    contains: Annotated[
        str | None,
        Query(
            description="Only entries whose address, description, domain or a name "
            "contains this (any case).",
            max_length=253,
        ),
    ] = None,
) -> list[EdgeOut]:
    """Edge entries by address (Device > Expressway-C, find and list)."""
    return [EdgeOut.of(edge) for edge in await admin.find_edges(ctx.store, contains)]


@router.get("/edges/{address}", operation_id="get_edge")
async def get_edge(ctx: Ctx, address: EdgeAddress) -> EdgeOut:
    """One edge entry."""
    for edge in await admin.find_edges(ctx.store):
        if _same_address(edge.address, address):
            return EdgeOut.of(edge)
    raise admin.NotFound(f"edge {address} does not exist")


@router.post("/edges", status_code=201, operation_id="add_edge")
async def add_edge(ctx: Ctx, who: Who, body: EdgeNew) -> EdgeOut:
    """Add an edge entry."""
    with admin.acting_as(who.actor):
        edge = await admin.add_edge(
            ctx.store,
            address=body.address,
            x509_names=body.x509_names,
            description=body.description,
            domain=body.domain,
            public_host=body.public_host,
            public_sip_port=body.public_sip_port,
            public_web_port=body.public_web_port,
        )
    return EdgeOut.of(edge)


@router.patch("/edges/{address}", operation_id="update_edge")
async def update_edge(ctx: Ctx, who: Who, address: EdgeAddress, body: EdgeChange) -> EdgeOut:
    """Change an edge entry."""
    given = body.model_fields_set
    domain = public_host = None
    if "domain" in given:
        domain = body.domain or ""  # null or "": remove the domain
    if "public_host" in given:
        public_host = body.public_host or ""  # null or "": the address
    with admin.acting_as(who.actor):
        edge = await admin.update_edge(
            ctx.store,
            address,
            description=body.description if "description" in given else None,
            x509_names=body.x509_names if "x509_names" in given else None,
            domain=domain,
            public_host=public_host,
            public_sip_port=body.public_sip_port if "public_sip_port" in given else None,
            public_web_port=body.public_web_port if "public_web_port" in given else None,
        )
    return EdgeOut.of(edge)


@router.delete("/edges/{address}", status_code=204, operation_id="delete_edge")
async def delete_edge(ctx: Ctx, who: Who, address: EdgeAddress) -> Response:
    """Delete an edge entry."""
    with admin.acting_as(who.actor):
        await admin.delete_edge(ctx.store, address)
    return Response(status_code=204)


def _connection_peer(request: Request) -> Peer | None:
    """The TLS peer the node recorded for the connection (never a header)."""
    state = request.scope.get("state") or {}
    peer = state.get("peer")
    return peer if isinstance(peer, Peer) else None


@push_router.post(
    "/edges/push",
    operation_id="push_edge_certificate",
    openapi_extra={"security": []},
    responses={200: {"description": "The edge entry, created or updated."}},
)
async def push_edge_certificate(
    request: Request, ctx: Ctx, body: EdgePush | None = None
) -> EdgeOut:
    """An edge pushes its certificate's names (mutual TLS; no admin credentials)."""
    peer = _connection_peer(request)
    if peer is None or peer.client_cert is None:
        raise ApiError(
            401,
            "unauthorized",
            "a client certificate is required: connect with the edge's certificate (mutual TLS)",
        )
    trust = [
        cert
        for info in await admin.list_certificates(ctx.store, "tomcat-trust")
        for cert in load_certs_pem(info.pem.encode("ascii"))
    ]
    try:
        verify_chain(peer.client_cert, peer.client_chain, trust, ctx.now())
    except ChainVerificationError:
        raise ApiError(
            403, "forbidden", "the client certificate does not chain to the tomcat-trust store"
        ) from None
    address = peer.address
    if body is not None and body.address:
        try:
            names = sorted(peer_names(peer.client_cert))
        except PkiError:
            names = []
        if not any(_same_address(body.address, n) for n in [peer.address, *names]):
            raise ApiError(
                403,
                "forbidden",
                "address: an edge may only update the entry of its own source address "
                "or of a name its certificate carries",
                field="address",
            )
        address = body.address
    edge = await admin.record_edge_certificate(
        ctx.store,
        address=address,
        cert_der=peer.client_cert,
        description=(body.description or "") if body is not None else "",
    )
    return EdgeOut.of(edge)


# -- MRA service domains ---------------------------------------------------------------

MraName = Annotated[str, Path(description="The MRA service domain's name.", max_length=128)]


class MraDomainOut(Out):
    """An MRA service domain."""

    name: str = Field(description="Its name.")
    is_default: bool = Field(description="The domain phones get when none is chosen.")
    domains: list[str] = Field(description="DNS names of the service.")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")

    @classmethod
    def of(cls, record: MraDomainRecord) -> MraDomainOut:
        return cls(
            name=record.name,
            is_default=record.is_default,
            domains=list(record.domains),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class MraDomainNew(Body):
    """A new MRA service domain."""

    name: str = Field(description="1-128 printable characters.", max_length=128)
    domains: list[str] = Field(description="DNS names of the service (1-32).", max_length=32)
    is_default: bool = Field(default=False, description="Make it the default.")


class MraDomainChange(Body):
    """Fields to change (those left out stay)."""

    domains: list[str] = absent("Replaces the DNS names.", max_length=32)
    is_default: bool = absent("Make it (or stop it being) the default.")


@mra_router.get("/mra-domains", operation_id="list_mra_domains")
async def list_mra_domains(ctx: Ctx) -> list[MraDomainOut]:
    """Every MRA service domain, by name."""
    return [MraDomainOut.of(r) for r in await admin.list_mra_domains(ctx.store)]


@mra_router.get("/mra-domains/{name}", operation_id="get_mra_domain")
async def get_mra_domain(ctx: Ctx, name: MraName) -> MraDomainOut:
    """One MRA service domain."""
    return MraDomainOut.of(await admin.get_mra_domain(ctx.store, name))


@mra_router.post("/mra-domains", status_code=201, operation_id="add_mra_domain")
async def add_mra_domain(ctx: Ctx, who: Who, body: MraDomainNew) -> MraDomainOut:
    """Add an MRA service domain."""
    with admin.acting_as(who.actor):
        record = await admin.add_mra_domain(
            ctx.store, body.name, body.domains, is_default=body.is_default
        )
    return MraDomainOut.of(record)


@mra_router.patch("/mra-domains/{name}", operation_id="update_mra_domain")
async def update_mra_domain(
    ctx: Ctx, who: Who, name: MraName, body: MraDomainChange
) -> MraDomainOut:
    """Change an MRA service domain's DNS names or default flag."""
    given = body.model_fields_set
    with admin.acting_as(who.actor):
        record = await admin.update_mra_domain(
            ctx.store,
            name,
            domains=body.domains if "domains" in given else None,
            is_default=body.is_default if "is_default" in given else None,
        )
    return MraDomainOut.of(record)


@mra_router.delete("/mra-domains/{name}", status_code=204, operation_id="delete_mra_domain")
async def delete_mra_domain(ctx: Ctx, who: Who, name: MraName) -> Response:
    """Delete an MRA service domain no phone names."""
    with admin.acting_as(who.actor):
        await admin.delete_mra_domain(ctx.store, name)
    return Response(status_code=204)
