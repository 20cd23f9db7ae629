"""Device > Expressway-C (R6): the edge entries allowed on the SIP Mobile and
Remote Access Port — find and list, add, edit (names an edge pushed itself
included), delete."""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin
from sipoauth.store import EdgeRecord

from ._pages_base import Field, FormState, Page, Pages, page, url
from ._pages_list import Row, list_page

__all__ = ["routes"]

_CRUMBS: Final = [("Expressway-C", "/edges")]


def _fields(*, new: bool) -> list[Field]:
    return [
        Field(
            name="address",
            label="IP address / host name / FQDN",
            required=True,
            readonly=not new,
            aliases=("address",),
        ),
        Field(name="description", label="Description"),
        Field(
            name="x509_names",
            label="X.509 Subject Name / Subject Alternate Name",
            kind="textarea",
            help="The names in the Expressway-C's certificate, one per line or separated "
            "by commas (R6).",
            aliases=("x.509", "subject name"),
        ),
        Field(
            name="domain",
            label="Domain",
            help="The Expressway-C's domain, when it is not this cluster's.",
            aliases=("domain",),
        ),
        Field(
            name="public_host",
            label="Public host",
            help="Where phones outside reach it (MRA); empty: the address.",
        ),
        Field(
            name="public_sip_port",
            label="Public SIP port",
            kind="number",
            attrs={"min": "1", "max": "65535"},
            aliases=("public sip port",),
        ),
        Field(
            name="public_web_port",
            label="Public HTTPS port",
            kind="number",
            attrs={"min": "1", "max": "65535"},
            aliases=("public https port",),
        ),
    ]


def _values(e: EdgeRecord) -> dict[str, Any]:
    return {
        "address": e.address,
        "description": e.description,
        "x509_names": "\n".join(e.x509_names),
        "domain": e.domain or "",
        "public_host": e.public_host or "",
        "public_sip_port": e.public_sip_port,
        "public_web_port": e.public_web_port,
    }


def _port(value: Any, label: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise admin.InvalidValue(f"{label} must be a whole number") from None


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    names = [n.strip() for n in str(values["x509_names"]).replace(",", "\n").splitlines()]
    return {
        "description": values["description"],
        "x509_names": [n for n in names if n],
        "public_sip_port": _port(values["public_sip_port"], "public SIP port"),
        "public_web_port": _port(values["public_web_port"], "public HTTPS port"),
    }


async def edges(current: Page) -> Response:
    return list_page(
        current,
        title="Find and List Expressway-C",
        base="/edges",
        noun="Expressway-C",
        noun_plural="Expressway-C entries",
        find_fields=[
            ("address", "Address"),
            ("description", "Description"),
            ("names", "X.509 name"),
        ],
        fields_of=lambda e: {
            "address": e.address,
            "description": e.description,
            "names": " ".join(e.x509_names),
        },
        items=await admin.find_edges(current.ctx.store),
        columns=("Address", "Description", "X.509 Subject Name / SAN", "Domain"),
        row=lambda e: Row(
            (e.address, e.description, ", ".join(e.x509_names), e.domain or ""),
            url("/edges/edit", address=e.address),
        ),
        add_href="/edges/new",
        crumbs=[("Device", "/edges")],
    )


def _render(
    current: Page, state: FormState, title: str, action: str, edit: str | None = None
) -> Response:
    actions = [] if edit is None else [("Delete", url("/edges/delete", address=edit), "danger")]
    return current.render(
        "form.html",
        status=422 if state.errors else 200,
        title=title,
        crumbs=_CRUMBS,
        action=action,
        hidden={},
        state=state,
        groups=[("Expressway-C Information", _fields(new=edit is None))],
        back="/edges",
        actions=actions,
    )


async def edge_new(current: Page) -> Response:
    state = FormState(values={"public_sip_port": 5061, "public_web_port": 8443})
    if current.request.method == "POST":
        fields = _fields(new=True)
        state.values = current.values(fields)
        try:
            record = await admin.add_edge(
                current.ctx.store,
                address=state.values["address"].strip(),
                domain=state.values["domain"].strip() or None,
                public_host=state.values["public_host"].strip() or None,
                **_arguments(state.values),
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(
                url("/edges/edit", address=record.address), f"Added {record.address}."
            )
    return _render(current, state, "Expressway-C — Add New", "/edges/new")


async def edge_edit(current: Page) -> Response:
    store = current.ctx.store
    wanted = current.query.get("address", "")
    record = next((e for e in await admin.find_edges(store) if e.address == wanted), None)
    if record is None:
        raise admin.NotFound(f"edge {wanted} does not exist")
    state = FormState(values=_values(record))
    if current.request.method == "POST":
        fields = _fields(new=False)
        state.values = {**current.values(fields), "address": record.address}
        try:
            await admin.update_edge(
                store,
                record.address,
                domain=state.values["domain"].strip(),
                public_host=state.values["public_host"].strip(),
                **_arguments(state.values),
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(url("/edges/edit", address=record.address), "Saved.")
    return _render(
        current,
        state,
        f"Expressway-C — {record.address}",
        url("/edges/edit", address=record.address),
        record.address,
    )


async def edge_delete(current: Page) -> Response:
    address = current.query.get("address", "")

    async def act() -> str:
        await admin.delete_edge(current.ctx.store, address)
        return f"Deleted {address}."

    return await current.confirm(
        act,
        done="/edges",
        back=url("/edges/edit", address=address),
        action=url("/edges/delete", address=address),
        title="Delete Expressway-C",
        crumbs=_CRUMBS,
        question=f"Delete the Expressway-C entry {address}?",
        detail="Its connections to the SIP Mobile and Remote Access Port are refused from then on.",
        confirm_label="Delete entry",
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/edges", page(pages, edges), methods=["GET"]),
        Route("/edges/new", page(pages, edge_new), methods=both),
        Route("/edges/edit", page(pages, edge_edit), methods=both),
        Route("/edges/delete", page(pages, edge_delete), methods=both),
    ]
