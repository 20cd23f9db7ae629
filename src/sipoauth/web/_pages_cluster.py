"""Control Center pages: SIP OAuth mode (R7), Feature Services (R8), and the
live Registrations view.

A start, stop or restart is a command queued for the node that runs the
service (``admin.request_service``); the page waits a few seconds for the
node to finish it and says how it stands (``admin.command_report``). A
restart of Cisco Tomcat on the node serving the page ends every session of
its pages (sessions live in the web service's memory): the operator signs in
again.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin

from ._pages_base import Page, Pages, page, url

__all__ = ["COMMAND_WAIT_SECONDS", "routes"]

COMMAND_WAIT_SECONDS: Final = 8.0
"""How long a Start / Stop / Restart waits for the node before answering."""
_REFRESH_SECONDS: Final = 5


async def mode(current: Page) -> Response:
    store = current.ctx.store
    if current.request.method == "POST":
        wanted = current.value("action")
        if wanted not in ("enable", "disable"):
            return current.redirect("/mode")
        if wanted == "disable" and current.value("confirm") != "yes":
            return current.render(
                "confirm.html",
                title="Disable SIP OAuth mode",
                crumbs=[("Control Center", "/mode")],
                question="Disable SIP OAuth mode on every node of the cluster?",
                detail="After the Cisco CallManager restarts, devices can no longer register "
                "with OAuth tokens.",
                action="/mode",
                hidden={"action": "disable"},
                confirm_label="Disable",
                back="/mode",
            )
        try:
            names = await admin.set_sip_oauth_mode(
                store, node_name=current.ctx.node_name, enabled=wanted == "enable"
            )
        except admin.AdminError as exc:
            return current.redirect("/mode", exc.message, "error")
        restart = (
            f" Restart Cisco CallManager on {', '.join(names)} for it to take effect (R8)."
            if names
            else ""
        )
        return current.redirect("/mode", f"SIP OAuth mode {wanted}d.{restart}")
    return current.render(
        "mode.html",
        title="SIP OAuth Mode",
        status_=await admin.sip_oauth_mode_status(store),
        license=await admin.license_status(store),
    )


async def services(current: Page) -> Response:
    store = current.ctx.store
    nodes = [n.name for n in await admin.list_servers(store)]
    node = current.query.get("node") or current.ctx.node_name
    if node not in nodes and nodes:
        node = nodes[0]
    return current.render(
        "services.html",
        title="Control Center – Feature Services",
        nodes=nodes,
        selected=node,
        services=await admin.list_services(store, node),
        port_names=admin.PORT_NAMES,
    )


async def service_action(current: Page) -> Response:
    store = current.ctx.store
    node = current.query.get("node", "")
    service = current.query.get("service", "")
    action = current.query.get("action", "")
    back = url("/services", node=node)
    display = admin.SERVICES.get(admin.service_id(service), service)
    if action not in admin.ACTIONS:
        return current.redirect(back)
    if current.request.method != "POST" or (
        action != "start" and current.value("confirm") != "yes"
    ):
        return current.render(
            "confirm.html",
            title=f"{action.capitalize()} {display}",
            crumbs=[("Feature Services", back)],
            question=f"{action.capitalize()} {display} on {node}?",
            detail="Devices registered through it lose their connection and reconnect."
            if action != "start"
            else "",
            action=url("/services/action", node=node, service=service, action=action),
            hidden={},
            confirm_label=action.capitalize(),
            back=back,
        )
    command = await admin.request_service(
        store,
        node_name=node,
        service=service,
        action=action,
        requested_by=current.session.username,
    )
    record = await admin.wait_for_command(store, command.id, timeout=COMMAND_WAIT_SECONDS)
    report = await admin.command_report(store, record)
    return current.redirect(back, report, "error" if record.status == "failed" else "success")


async def registrations(current: Page) -> Response:
    store = current.ctx.store
    device = current.query.get("device", "").strip() or None
    node = current.query.get("node", "").strip() or None
    rows = await admin.list_registrations(store, device=device, node=node, now=current.ctx.now())
    return current.render(
        "registrations.html",
        title="Registrations",
        rows=rows,
        device=device or "",
        node_filter=node or "",
        nodes=[n.name for n in await admin.list_servers(store)],
        refresh=_REFRESH_SECONDS,
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/mode", page(pages, mode), methods=both),
        Route("/services", page(pages, services), methods=["GET"]),
        Route("/services/action", page(pages, service_action), methods=both),
        Route("/registrations", page(pages, registrations), methods=["GET"]),
    ]
