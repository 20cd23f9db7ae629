"""System > CallManager Group: the ordered servers a phone's configuration file
names (it registers to the first, fails over down the list). Find and list,
add, edit (servers in order), delete (confirmed; refused while phones use it)."""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin

from ._pages_base import Field, FormState, Page, Pages, page, url
from ._pages_list import Row, list_page

__all__ = ["routes"]

_CRUMBS: Final = [("CallManager Group", "/groups")]


async def _fields(current: Page, *, new: bool) -> list[Field]:
    servers = ", ".join(n.name for n in await admin.list_servers(current.ctx.store))
    return [
        Field(name="name", label="Name", required=True, readonly=not new, aliases=("name",)),
        Field(name="description", label="Description"),
        Field(
            name="nodes",
            label="Servers, in order",
            required=True,
            help=f"The first is tried first; separate them with commas. Servers: {servers}.",
            aliases=("server", "nodes"),
        ),
    ]


def _nodes(values: dict[str, Any]) -> list[str]:
    return [n.strip() for n in str(values["nodes"]).split(",") if n.strip()]


async def groups(current: Page) -> Response:
    store = current.ctx.store
    usage = await admin.group_usage(store)
    return list_page(
        current,
        title="Find and List CallManager Groups",
        base="/groups",
        noun="CallManager Groups",
        noun_plural="CallManager groups",
        find_fields=[("name", "Name"), ("nodes", "Server")],
        fields_of=lambda g: {"name": g.name, "nodes": " ".join(g.nodes)},
        items=await admin.find_groups(store),
        columns=("Name", "Servers, in order", "Description", "Phones"),
        row=lambda g: Row(
            (g.name, " → ".join(g.nodes), g.description, usage.get(g.name, 0)),
            url("/groups/edit", name=g.name),
        ),
        add_href="/groups/new",
        crumbs=[("System", "/groups")],
    )


def _render(
    current: Page, fields: list[Field], state: FormState, title: str, action: str, edit: str = ""
) -> Response:
    actions = [("Delete", url("/groups/delete", name=edit), "danger")] if edit else []
    return current.render(
        "form.html",
        status=422 if state.errors else 200,
        title=title,
        crumbs=_CRUMBS,
        action=action,
        hidden={},
        state=state,
        groups=[("CallManager Group Information", fields)],
        back="/groups",
        actions=actions,
    )


async def group_new(current: Page) -> Response:
    fields = await _fields(current, new=True)
    state = FormState()
    if current.request.method == "POST":
        state.values = current.values(fields)
        try:
            record = await admin.add_group(
                current.ctx.store,
                name=state.values["name"],
                nodes=_nodes(state.values),
                description=state.values["description"],
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(url("/groups/edit", name=record.name), f"Added {record.name}.")
    return _render(current, fields, state, "CallManager Group — Add New", "/groups/new")


async def group_edit(current: Page) -> Response:
    store = current.ctx.store
    group = await admin.get_group(store, current.query.get("name", ""))
    fields = await _fields(current, new=False)
    state = FormState(
        values={
            "name": group.name,
            "description": group.description,
            "nodes": ", ".join(group.nodes),
        }
    )
    if current.request.method == "POST":
        state.values = {**current.values(fields), "name": group.name}
        try:
            await admin.update_group(
                store,
                group.name,
                nodes=_nodes(state.values),
                description=state.values["description"],
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(
                url("/groups/edit", name=group.name),
                "Saved. Phones of the group need a reset when its servers changed.",
            )
    return _render(
        current,
        fields,
        state,
        f"CallManager Group — {group.name}",
        url("/groups/edit", name=group.name),
        group.name,
    )


async def group_delete(current: Page) -> Response:
    store = current.ctx.store
    group = await admin.get_group(store, current.query.get("name", ""))

    async def act() -> str:
        await admin.delete_group(store, group.name)
        return f"Deleted {group.name}."

    return await current.confirm(
        act,
        done="/groups",
        back=url("/groups/edit", name=group.name),
        action=url("/groups/delete", name=group.name),
        title="Delete CallManager group",
        crumbs=_CRUMBS,
        question=f"Delete CallManager group {group.name}?",
        detail="A group that phones use cannot be deleted.",
        confirm_label="Delete group",
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/groups", page(pages, groups), methods=["GET"]),
        Route("/groups/new", page(pages, group_new), methods=both),
        Route("/groups/edit", page(pages, group_edit), methods=both),
        Route("/groups/delete", page(pages, group_delete), methods=both),
    ]
