"""Device > Phone > Import Phones (CSV): the bulk import of
``admin.import_devices_csv``, row by row, with a per-row report. The file is
read into the form by the page script (or its text pasted)."""

from __future__ import annotations

from typing import Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin

from ._pages_base import Field, FormState, Page, Pages, page

__all__ = ["routes"]

_FIELDS: Final = [
    Field(
        name="file",
        label="CSV file",
        kind="file",
        help="The page reads it into the text below.",
        attrs={"data-into": "f-csv", "accept": ".csv,text/csv"},
    ),
    Field(
        name="csv",
        label="CSV text",
        kind="textarea",
        required=True,
        help="Header: " + ",".join(admin.IMPORT_COLUMNS) + " (name and model required; lines "
        "separated by ';'). Each row is added on its own.",
        attrs={"rows": "10"},
        aliases=("csv",),
    ),
]


async def import_phones(current: Page) -> Response:
    state = FormState()
    report: admin.ImportReport | None = None
    if current.request.method == "POST":
        state.values = current.values(_FIELDS)
        try:
            report = await admin.import_devices_csv(current.ctx.store, state.values["csv"])
        except admin.AdminError as exc:
            state.fail(exc, _FIELDS)
    return current.render(
        "import.html",
        status=422 if state.errors else 200,
        title="Import Phones",
        crumbs=[("Phone", "/phones")],
        state=state,
        fields=_FIELDS,
        report=report,
    )


def routes(pages: Pages) -> list[Route]:
    return [
        Route("/phones/import", page(pages, import_phones, upload=True), methods=["GET", "POST"])
    ]
