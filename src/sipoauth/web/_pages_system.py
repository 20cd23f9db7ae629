"""System pages: Server (R5 ports), Enterprise and Service Parameters (R4),
Licensing (R2.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin
from sipoauth.admin._parameters import ENTERPRISE_GROUP, SERVICE_GROUP
from sipoauth.store import NodeRecord

from ._pages_base import Choice, Field, FormState, Page, Pages, page, url
from ._pages_list import Row, list_page

__all__ = ["routes"]

_SERVERS: Final = ("System", "/servers")
_PORT_HELP: Final = {
    "oauth_port": "TLS, for SIP line registrations from devices inside the network (R5). "
    "Default 5090.",
    "mra_port": "Mutual TLS, for SIP line registrations through the Expressway-C (R5). "
    "Default 5091.",
}


def _port_fields() -> list[Field]:
    return [
        Field(
            name=name,
            label=label,
            kind="number",
            required=True,
            help=_PORT_HELP.get(name, f"{admin.PORT_MIN}–{admin.PORT_MAX}."),
            attrs={"min": str(admin.PORT_MIN), "max": str(admin.PORT_MAX), "inputmode": "numeric"},
        )
        for name, label in admin.PORT_FIELDS.items()
    ]


_IDENTITY: Final = [
    Field(name="name", label="Server name", required=True, aliases=("server name",)),
    Field(name="host", label="Host name / IP address", required=True, aliases=("host",)),
    Field(
        name="role",
        label="Role",
        kind="select",
        choices=(Choice("subscriber", "Subscriber"), Choice("publisher", "Publisher")),
        aliases=("publisher", "subscriber"),
    ),
]


def _ports_of(form: dict[str, object], fields: Sequence[Field]) -> dict[str, int]:
    """Port values as numbers; a value that is not a number is reported against its field."""
    ports: dict[str, int] = {}
    for f in fields:
        text = str(form.get(f.name, "")).strip()
        try:
            ports[f.name] = int(text)
        except ValueError:
            raise admin.InvalidValue(f"{f.label} must be a whole number") from None
    return ports


async def servers(current: Page) -> Response:
    items = await admin.list_servers(current.ctx.store)
    return list_page(
        current,
        title="Find and List Servers",
        base="/servers",
        noun="Servers",
        noun_plural="servers",
        find_fields=[("name", "Server name"), ("host", "Host name / IP address")],
        fields_of=lambda n: {"name": n.name, "host": n.host},
        items=items,
        columns=(
            "Server name",
            "Host",
            "Role",
            "SIP Phone OAuth Port",
            "SIP Mobile and Remote Access Port",
            "HTTPS Port",
        ),
        row=lambda n: Row(
            (n.name, n.host, n.role.capitalize(), n.oauth_port, n.mra_port, n.web_port),
            url("/servers/edit", name=n.name),
        ),
        add_href="/servers/new",
    )


async def server_new(current: Page) -> Response:
    ports = _port_fields()
    state = FormState(
        values={"role": "subscriber", **{f.name: "" for f in ports}}
        | {
            "sip_port": 5060,
            "secure_sip_port": 5061,
            "oauth_port": 5090,
            "mra_port": 5091,
            "web_port": 8443,
            "tftp_port": 6970,
            "tftp_secure_port": 6971,
        }
    )
    if current.request.method == "POST":
        state.values = current.values([*_IDENTITY, *ports])
        try:
            numbers = _ports_of(state.values, ports)
            node = await admin.add_server(
                current.ctx.store,
                state.values["name"],
                state.values["host"],
                state.values["role"],
                **numbers,
            )
        except admin.AdminError as exc:
            state.fail(exc, [*_IDENTITY, *ports])
        else:
            return current.redirect(url("/servers/edit", name=node.name), f"Added {node.name}.")
    return current.render(
        "form.html",
        status=422 if state.errors else 200,
        title="Server Configuration — Add New",
        crumbs=[_SERVERS],
        action="/servers/new",
        hidden={},
        state=state,
        groups=[("Server Information", _IDENTITY), ("Ports", ports)],
        back="/servers",
        submit="Save",
    )


async def server_edit(current: Page) -> Response:
    store = current.ctx.store
    name = current.query.get("name", "") or current.value("name")
    node: NodeRecord = await admin.get_server(store, name)
    ports = _port_fields()
    identity = [
        Field(name="name", label="Server name", readonly=True),
        Field(name="host", label="Host name / IP address", readonly=True),
        Field(name="role", label="Role", readonly=True),
    ]
    state = FormState(
        values={"name": node.name, "host": node.host, "role": node.role.capitalize()}
        | {f.name: getattr(node, f.name) for f in ports}
    )
    if current.request.method == "POST":
        state.values.update(current.values(ports))
        try:
            numbers = _ports_of(state.values, ports)
            await admin.set_server_ports(store, node.name, **numbers)
        except admin.AdminError as exc:
            state.fail(exc, ports)
        else:
            return current.redirect(
                url("/servers/edit", name=node.name),
                f"Saved {node.name}. A changed port takes effect when its service restarts "
                "(Control Center – Feature Services).",
            )
    actions = []
    if node.role != "publisher":
        actions.append(("Delete", url("/servers/delete", name=node.name), "danger"))
    return current.render(
        "form.html",
        status=422 if state.errors else 200,
        title=f"Server Configuration — {node.name}",
        crumbs=[_SERVERS],
        action=url("/servers/edit", name=node.name),
        hidden={},
        state=state,
        groups=[("Server Information", identity), ("Ports", ports)],
        back="/servers",
        actions=actions,
    )


async def server_delete(current: Page) -> Response:
    store = current.ctx.store
    node = await admin.get_server(store, current.query.get("name", ""))

    async def act() -> str:
        await admin.delete_server(store, node.name, node_name=current.ctx.node_name)
        return f"Deleted server {node.name}."

    return await current.confirm(
        act,
        done="/servers",
        back=url("/servers/edit", name=node.name),
        action=url("/servers/delete", name=node.name),
        title="Delete server",
        crumbs=[_SERVERS],
        question=f"Delete server {node.name} ({node.host})?",
        detail="Its services and their state are removed from the cluster configuration.",
        confirm_label="Delete server",
    )


# -- parameters --------------------------------------------------------------------------


def _parameter_field(item: admin.ParameterValue) -> Field:
    p = item.parameter
    help_text = f"{p.description} Default: {p.display(p.default) or '(empty)'}."
    if p.kind == "bool":
        pair = (Choice("true", p.bool_labels[0]), Choice("false", p.bool_labels[1]))
        return Field(name=p.key, label=p.name, kind="select", choices=pair, help=help_text)
    if p.kind == "choice":
        choices = tuple(Choice(v, label) for v, label in p.choices)
        return Field(name=p.key, label=p.name, kind="select", choices=choices, help=help_text)
    if p.kind == "int":
        return Field(
            name=p.key,
            label=p.name,
            kind="number",
            help=f"{help_text} Range {p.range_text}.",
            attrs={"min": str(p.minimum), "max": str(p.maximum), "inputmode": "numeric"},
        )
    if p.kind == "uri-list":
        return Field(name=p.key, label=p.name, kind="textarea", help=help_text, attrs={"rows": "2"})
    return Field(name=p.key, label=p.name, help=help_text)


def _form_value(item: admin.ParameterValue) -> str:
    value = item.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _parameters_handler(group: str, path: str, title: str) -> object:
    async def handler(current: Page) -> Response:
        store = current.ctx.store
        items = [i for i in await admin.list_parameters(store) if i.parameter.group == group]
        fields = [_parameter_field(i) for i in items]
        state = FormState(values={i.parameter.key: _form_value(i) for i in items})
        if current.request.method == "POST":
            posted = current.values(fields)
            state.values.update(posted)
            # Saved as a unit (R4): every value is checked by the rule's own
            # parser first; nothing is written while one of them is refused.
            for item in items:
                try:
                    item.parameter.parse(posted[item.parameter.key])
                except admin.AdminError as exc:
                    state.errors[item.parameter.key] = exc.message
            if not state.errors:
                changed: list[str] = []
                revoked = 0
                for item in items:
                    if item.parameter.parse(posted[item.parameter.key]) == item.value:
                        continue
                    result = await admin.set_parameter(
                        store, item.parameter.key, posted[item.parameter.key]
                    )
                    changed.append(item.parameter.name)
                    revoked += result.refresh_tokens_revoked
                message = (f"Saved: {', '.join(changed)}." if changed else "Nothing changed.") + (
                    f" {revoked} refresh token(s) were revoked." if revoked else ""
                )
                return current.redirect(path, message)
        return current.render(
            "form.html",
            status=422 if state.errors else 200,
            title=title,
            crumbs=[],
            action=path,
            hidden={},
            state=state,
            groups=[(group, fields)],
            intro="The parameters of this group are saved together.",
            submit="Save",
        )

    return handler


# -- licensing -----------------------------------------------------------------------


_REGISTER: Final = [
    Field(name="virtual_account", label="Virtual account", required=True),
    Field(
        name="allow_export_controlled",
        label="Allow export-controlled functionality",
        kind="checkbox",
        help="SIP OAuth mode needs it (R2.2).",
        aliases=("export-controlled",),
    ),
]


async def licensing(current: Page) -> Response:
    store = current.ctx.store
    status = await admin.license_status(store)
    state = FormState(
        values={
            "virtual_account": status.virtual_account,
            "allow_export_controlled": status.export_controlled_allowed,
        }
    )
    if current.request.method == "POST":
        action = current.value("action")
        try:
            if action == "register":
                state.values = current.values(_REGISTER)
                await admin.register_license(
                    store,
                    virtual_account=state.values["virtual_account"],
                    allow_export_controlled=state.values["allow_export_controlled"],
                    node_name=current.ctx.node_name,
                )
                return current.redirect("/licensing", "The cluster is registered.")
            if action in ("allow", "disallow"):
                await admin.set_export_controlled(
                    store, action == "allow", node_name=current.ctx.node_name
                )
                return current.redirect("/licensing", "Export-controlled functionality saved.")
            if action == "deregister" and current.value("confirm") == "yes":
                await admin.deregister_license(store, node_name=current.ctx.node_name)
                return current.redirect("/licensing", "The cluster is deregistered.")
            if action == "deregister":
                return current.render(
                    "confirm.html",
                    title="Deregister",
                    crumbs=[("System", "/licensing")],
                    question="Deregister the cluster from smart licensing?",
                    detail="Export-controlled functionality is disallowed with it.",
                    action="/licensing",
                    hidden={"action": "deregister"},
                    confirm_label="Deregister",
                    back="/licensing",
                )
        except admin.AdminError as exc:
            state.fail(exc, _REGISTER)
    return current.render(
        "licensing.html",
        status=422 if state.errors else 200,
        title="Licensing",
        status_=status,
        state=state,
        fields=_REGISTER,
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/servers", page(pages, servers), methods=["GET"]),
        Route("/servers/new", page(pages, server_new), methods=both),
        Route("/servers/edit", page(pages, server_edit), methods=both),
        Route("/servers/delete", page(pages, server_delete), methods=both),
        Route(
            "/parameters/enterprise",
            page(
                pages,
                _parameters_handler(  # type: ignore[arg-type]
                    ENTERPRISE_GROUP, "/parameters/enterprise", "Enterprise Parameters"
                ),
            ),
            methods=both,
        ),
        Route(
            "/parameters/service",
            page(
                pages,
                _parameters_handler(  # type: ignore[arg-type]
                    SERVICE_GROUP, "/parameters/service", "Service Parameters"
                ),
            ),
            methods=both,
        ),
        Route("/licensing", page(pages, licensing), methods=both),
    ]
