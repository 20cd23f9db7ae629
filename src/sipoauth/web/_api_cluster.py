"""REST routes: servers and their ports (R5), licensing (R2.2), SIP OAuth mode (R7/R8)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Response
from pydantic import Field

from sipoauth import admin
from sipoauth.store import NodeRecord, NodeRole, ServiceState

from ._api_base import Body, Ctx, Out, Who, absent

__all__ = ["ServerOut", "license_router", "mode_router", "servers_router"]

servers_router = APIRouter(tags=["servers"])
license_router = APIRouter(tags=["license"])
mode_router = APIRouter(tags=["sip-oauth-mode"])

ServerName = Annotated[str, Path(description="The server's name.", max_length=64)]
_PORT: Final[dict[str, Any]] = {"ge": 1, "le": 65535}  # the rules check 1024-49151


def _port(default: int, description: str) -> Any:
    return Field(default=default, description=description, **_PORT)


class ServerOut(Out):
    """A server (node) of the cluster with its listener ports."""

    name: str = Field(description="Server name.")
    host: str = Field(description="IP address, host name or FQDN.")
    role: NodeRole = Field(description="`publisher` (one) or `subscriber`.")
    sip_port: int = Field(description="SIP Phone Port.")
    secure_sip_port: int = Field(description="SIP Phone Secure Port.")
    oauth_port: int = Field(description="SIP Phone OAuth Port (R5, default 5090).")
    mra_port: int = Field(description="SIP Mobile and Remote Access Port (R5, default 5091).")
    web_port: int = Field(description="HTTPS Port (web service).")
    tftp_port: int = Field(description="TFTP HTTP Port.")
    tftp_secure_port: int = Field(description="TFTP HTTPS Port.")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")

    @classmethod
    def of(cls, node: NodeRecord) -> ServerOut:
        return cls(
            name=node.name,
            host=node.host,
            role=node.role,
            sip_port=node.sip_port,
            secure_sip_port=node.secure_sip_port,
            oauth_port=node.oauth_port,
            mra_port=node.mra_port,
            web_port=node.web_port,
            tftp_port=node.tftp_port,
            tftp_secure_port=node.tftp_secure_port,
            created_at=node.created_at,
            updated_at=node.updated_at,
        )


class ServerPorts(Body):
    """Ports to change (those left out stay); each 1024-49151, all different."""

    sip_port: int = absent("SIP Phone Port.", **_PORT)
    secure_sip_port: int = absent("SIP Phone Secure Port.", **_PORT)
    oauth_port: int = absent("SIP Phone OAuth Port.", **_PORT)
    mra_port: int = absent("SIP Mobile and Remote Access Port.", **_PORT)
    web_port: int = absent("HTTPS Port.", **_PORT)
    tftp_port: int = absent("TFTP HTTP Port.", **_PORT)
    tftp_secure_port: int = absent("TFTP HTTPS Port.", **_PORT)


class ServerNew(Body):
    """A new server: the publisher first, then subscribers."""

    name: str = Field(description="Server name.", max_length=64)
    host: str = Field(description="IP address, host name or FQDN.", max_length=253)
    role: NodeRole = Field(default="subscriber", description="`publisher` or `subscriber`.")
    sip_port: int = _port(5060, "SIP Phone Port.")
    secure_sip_port: int = _port(5061, "SIP Phone Secure Port.")
    oauth_port: int = _port(5090, "SIP Phone OAuth Port (R5).")
    mra_port: int = _port(5091, "SIP Mobile and Remote Access Port (R5).")
    web_port: int = _port(8443, "HTTPS Port.")
    tftp_port: int = _port(6970, "TFTP HTTP Port.")
    tftp_secure_port: int = _port(6971, "TFTP HTTPS Port.")


@servers_router.get("/servers", operation_id="list_servers")
async def list_servers(ctx: Ctx) -> list[ServerOut]:
    """Every server, the publisher first."""
    return [ServerOut.of(node) for node in await admin.list_servers(ctx.store)]


@servers_router.get("/servers/{name}", operation_id="get_server")
async def get_server(ctx: Ctx, name: ServerName) -> ServerOut:
    """One server."""
    return ServerOut.of(await admin.get_server(ctx.store, name))


@servers_router.post("/servers", status_code=201, operation_id="add_server")
async def add_server(ctx: Ctx, who: Who, body: ServerNew) -> ServerOut:
    """Add a server (System > Server)."""
    ports = body.model_dump(exclude={"name", "host", "role"})
    with admin.acting_as(who.actor):
        node = await admin.add_server(ctx.store, body.name, body.host, body.role, **ports)
    return ServerOut.of(node)


@servers_router.patch("/servers/{name}/ports", operation_id="set_server_ports")
async def set_server_ports(ctx: Ctx, who: Who, name: ServerName, body: ServerPorts) -> ServerOut:
    """Change ports; the service listening on a changed one becomes "restart pending"."""
    ports = body.model_dump(include=body.model_fields_set)
    with admin.acting_as(who.actor):
        return ServerOut.of(await admin.set_server_ports(ctx.store, name, **ports))


@servers_router.delete("/servers/{name}", status_code=204, operation_id="delete_server")
async def delete_server(ctx: Ctx, who: Who, name: ServerName) -> Response:
    """Remove a subscriber (never the publisher, nor the server answering)."""
    with admin.acting_as(who.actor):
        await admin.delete_server(ctx.store, name, node_name=ctx.node_name)
    return Response(status_code=204)


# -- licensing -------------------------------------------------------------------------


class LicenseOut(Out):
    """Smart-licensing registration and export-controlled functionality (R2.2)."""

    registration: admin.LicenseState = Field(
        description="`evaluation`, `registered` or `unregistered`."
    )
    virtual_account: str = Field(description="Virtual account (empty when not registered).")
    product_instance: str = Field(description="Product instance name (the publisher).")
    registered_at: datetime | None = Field(description="When it was registered.")
    export_controlled_allowed: bool = Field(
        description="Allow export-controlled functionality (SIP OAuth mode needs it)."
    )
    sip_oauth_mode: bool = Field(description="The cluster-wide SIP OAuth mode flag.")

    @classmethod
    def of(cls, status: admin.LicenseStatus) -> LicenseOut:
        return cls(
            registration=status.registration,
            virtual_account=status.virtual_account,
            product_instance=status.product_instance,
            registered_at=status.registered_at,
            export_controlled_allowed=status.export_controlled_allowed,
            sip_oauth_mode=status.sip_oauth_mode,
        )


class LicenseRegister(Body):
    """Register the cluster (publisher only)."""

    virtual_account: str = Field(description="The virtual account (1-128 characters).")
    allow_export_controlled: bool = Field(
        default=False, description="Allow export-controlled functionality."
    )


class ExportControlled(Body):
    """Allow or disallow export-controlled functionality (publisher only)."""

    allowed: bool = Field(description="Allowed (needs a registered cluster).")


@license_router.get("/license", operation_id="license_status")
async def license_status(ctx: Ctx) -> LicenseOut:
    """The registration state and the export-controlled flag."""
    return LicenseOut.of(await admin.license_status(ctx.store))


@license_router.post("/license/register", operation_id="register_license")
async def register_license(ctx: Ctx, who: Who, body: LicenseRegister) -> LicenseOut:
    """Register the cluster to a virtual account."""
    with admin.acting_as(who.actor):
        status = await admin.register_license(
            ctx.store,
            virtual_account=body.virtual_account,
            allow_export_controlled=body.allow_export_controlled,
            node_name=ctx.node_name,
        )
    return LicenseOut.of(status)


@license_router.post("/license/deregister", operation_id="deregister_license")
async def deregister_license(ctx: Ctx, who: Who) -> LicenseOut:
    """Deregister the cluster (refused while SIP OAuth mode is enabled)."""
    with admin.acting_as(who.actor):
        return LicenseOut.of(await admin.deregister_license(ctx.store, node_name=ctx.node_name))


@license_router.put("/license/export-controlled", operation_id="set_export_controlled")
async def set_export_controlled(ctx: Ctx, who: Who, body: ExportControlled) -> LicenseOut:
    """Allow or disallow export-controlled functionality."""
    with admin.acting_as(who.actor):
        status = await admin.set_export_controlled(ctx.store, body.allowed, node_name=ctx.node_name)
    return LicenseOut.of(status)


# -- SIP OAuth mode --------------------------------------------------------------------


class NodeModeOut(Out):
    """One node's CallManager and the mode (R8)."""

    node_name: str = Field(description="The node.")
    role: NodeRole = Field(description="`publisher` or `subscriber`.")
    state: ServiceState = Field(description="The CallManager's state as last reported.")
    running_mode: bool | None = Field(description="The mode the running CallManager applied.")
    applied: bool = Field(description="The running CallManager applied the flag in force.")
    restart_pending: bool = Field(description="A change waits for a CallManager restart.")


class ModeOut(Out):
    """`utils sipOAuth-mode status`."""

    enabled: bool = Field(description="The cluster-wide flag.")
    nodes: list[NodeModeOut] = Field(description="Every node, the publisher first.")
    restart_pending: list[str] = Field(
        default=[], description="Enable/disable: the nodes whose CallManager must restart."
    )


async def _mode(ctx: Ctx, pending: list[str] | None = None) -> ModeOut:
    status = await admin.sip_oauth_mode_status(ctx.store)
    nodes = [
        NodeModeOut(
            node_name=n.node_name,
            role=n.role,
            state=n.state,
            running_mode=n.running_mode,
            applied=n.applied,
            restart_pending=n.restart_pending,
        )
        for n in status.nodes
    ]
    return ModeOut(enabled=status.enabled, nodes=nodes, restart_pending=pending or [])


@mode_router.get("/sip-oauth-mode", operation_id="sip_oauth_mode_status")
async def sip_oauth_mode_status(ctx: Ctx) -> ModeOut:
    """The flag and, per node, whether its running CallManager applied it."""
    return await _mode(ctx)


@mode_router.post("/sip-oauth-mode/enable", operation_id="enable_sip_oauth_mode")
async def enable_sip_oauth_mode(ctx: Ctx, who: Who) -> ModeOut:
    """Enable SIP OAuth mode (publisher only; needs export-controlled functionality)."""
    with admin.acting_as(who.actor):
        names = await admin.set_sip_oauth_mode(ctx.store, node_name=ctx.node_name, enabled=True)
    return await _mode(ctx, names)


@mode_router.post("/sip-oauth-mode/disable", operation_id="disable_sip_oauth_mode")
async def disable_sip_oauth_mode(ctx: Ctx, who: Who) -> ModeOut:
    """Disable SIP OAuth mode (publisher only)."""
    with admin.acting_as(who.actor):
        names = await admin.set_sip_oauth_mode(ctx.store, node_name=ctx.node_name, enabled=False)
    return await _mode(ctx, names)
