"""Find-and-list pages, as on the reference system: "Find <objects> where
<field> begins with / contains / is <text>", rows per page, First / Previous /
Next / Last. Lists that the rules return whole are filtered and paged here;
the device list is paged by the store (``_pages_devices``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from ._pages_base import Page, Paging

__all__ = ["Find", "Row", "find_of", "list_page", "matches"]


@dataclass(frozen=True, slots=True)
class Row:
    """One row: its cells (the first links to ``href``)."""

    cells: tuple[Any, ...]
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Find:
    """The search of a find-and-list page."""

    field: str
    op: str
    text: str

    def query(self) -> str:
        return urlencode({"field": self.field, "op": self.op, "text": self.text})


def find_of(current: Page, fields: Sequence[tuple[str, str]]) -> Find:
    """The search the page was asked for (unknown values fall back to the first field)."""
    query = current.query
    field = query.get("field", fields[0][0])
    if field not in {name for name, _ in fields}:
        field = fields[0][0]
    op = query.get("op", "begins")
    if op not in ("begins", "contains", "is"):
        op = "begins"
    return Find(field, op, query.get("text", "").strip()[:200])


def matches(find: Find, value: str) -> bool:
    """Does ``value`` match the search (any case)?"""
    if not find.text:
        return True
    wanted, have = find.text.casefold(), value.casefold()
    if find.op == "is":
        return have == wanted
    if find.op == "contains":
        return wanted in have
    return have.startswith(wanted)


def list_page(
    current: Page,
    *,
    title: str,
    base: str,
    noun: str,
    noun_plural: str,
    find_fields: Sequence[tuple[str, str]],
    fields_of: Callable[[Any], dict[str, str]],
    items: Sequence[Any],
    columns: Sequence[str],
    row: Callable[[Any], Row],
    add_href: str | None = None,
    crumbs: Sequence[tuple[str, str]] = (),
) -> Response:
    """Filter ``items`` by the page's search, cut one page, render it."""
    find = find_of(current, find_fields)
    found = [item for item in items if matches(find, fields_of(item).get(find.field, ""))]
    paging = Paging.of(current.query, len(found), current.pages.settings.page_sizes)
    shown = found[paging.offset : paging.offset + paging.limit]
    return current.render(
        "list.html",
        title=title,
        base=base,
        noun=noun,
        noun_plural=noun_plural,
        find_fields=find_fields,
        find=find,
        query=find.query(),
        paging=paging,
        columns=columns,
        rows=[row(item) for item in shown],
        add_href=add_href,
        crumbs=crumbs,
    )
