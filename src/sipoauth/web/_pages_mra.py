"""Device > MRA Service Domain: the domains a phone allowed to activate
through the Expressway-C is given (its *Activation Code MRA Service Domain*,
R12.1). Find and list, add, edit, delete (confirmed; refused while phones
name it)."""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin

from ._pages_base import Field, FormState, Page, Pages, page, url
from ._pages_list import Row, list_page

__all__ = ["routes"]

_CRUMBS: Final = [("MRA Service Domain", "/mra-domains")]


def _fields(*, new: bool) -> list[Field]:
    return [
        Field(name="name", label="Name", required=True, readonly=not new, aliases=("name",)),
        Field(
            name="domains",
            label="Domains",
            required=True,
            help="DNS names such as mra.example.com, separated by commas.",
            aliases=("domain",),
        ),
        Field(name="is_default", label="Default", kind="checkbox"),
    ]


def _domains(values: dict[str, Any]) -> list[str]:
    return [d.strip() for d in str(values["domains"]).split(",") if d.strip()]


async def domains(current: Page) -> Response:
    return list_page(
        current,
        title="Find and List MRA Service Domains",
        base="/mra-domains",
        noun="MRA Service Domains",
        noun_plural="MRA service domains",
        find_fields=[("name", "Name"), ("domains", "Domain")],
        fields_of=lambda d: {"name": d.name, "domains": " ".join(d.domains)},
        items=await admin.list_mra_domains(current.ctx.store),
        columns=("Name", "Domains", "Default"),
        row=lambda d: Row(
            (d.name, ", ".join(d.domains), "Yes" if d.is_default else ""),
            url("/mra-domains/edit", name=d.name),
        ),
        add_href="/mra-domains/new",
        crumbs=[("Device", "/mra-domains")],
    )


def _render(current: Page, state: FormState, title: str, action: str, edit: str = "") -> Response:
    actions = [("Delete", url("/mra-domains/delete", name=edit), "danger")] if edit else []
    return current.render(
        "form.html",
        status=422 if state.errors else 200,
        title=title,
        crumbs=_CRUMBS,
        action=action,
        hidden={},
        state=state,
        groups=[("MRA Service Domain Information", _fields(new=not edit))],
        back="/mra-domains",
        actions=actions,
    )


async def domain_new(current: Page) -> Response:
    state = FormState()
    if current.request.method == "POST":
        fields = _fields(new=True)
        state.values = current.values(fields)
        try:
            record = await admin.add_mra_domain(
                current.ctx.store,
                state.values["name"],
                _domains(state.values),
                is_default=state.values["is_default"],
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(
                url("/mra-domains/edit", name=record.name), f"Added {record.name}."
            )
    return _render(current, state, "MRA Service Domain — Add New", "/mra-domains/new")


async def domain_edit(current: Page) -> Response:
    store = current.ctx.store
    record = await admin.get_mra_domain(store, current.query.get("name", ""))
    state = FormState(
        values={
            "name": record.name,
            "domains": ", ".join(record.domains),
            "is_default": record.is_default,
        }
    )
    if current.request.method == "POST":
        fields = _fields(new=False)
        state.values = {**current.values(fields), "name": record.name}
        try:
            await admin.update_mra_domain(
                store,
                record.name,
                domains=_domains(state.values),
                is_default=state.values["is_default"],
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(url("/mra-domains/edit", name=record.name), "Saved.")
    return _render(
        current,
        state,
        f"MRA Service Domain — {record.name}",
        url("/mra-domains/edit", name=record.name),
        record.name,
    )


async def domain_delete(current: Page) -> Response:
    store = current.ctx.store
    record = await admin.get_mra_domain(store, current.query.get("name", ""))

    async def act() -> str:
        await admin.delete_mra_domain(store, record.name)
        return f"Deleted {record.name}."

    return await current.confirm(
        act,
        done="/mra-domains",
        back=url("/mra-domains/edit", name=record.name),
        action=url("/mra-domains/delete", name=record.name),
        title="Delete MRA service domain",
        crumbs=_CRUMBS,
        question=f"Delete MRA service domain {record.name}?",
        detail="A domain that phones name cannot be deleted.",
        confirm_label="Delete domain",
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/mra-domains", page(pages, domains), methods=["GET"]),
        Route("/mra-domains/new", page(pages, domain_new), methods=both),
        Route("/mra-domains/edit", page(pages, domain_edit), methods=both),
        Route("/mra-domains/delete", page(pages, domain_delete), methods=both),
    ]
