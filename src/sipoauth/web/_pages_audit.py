"""Audit Log: who changed what, when, through which interface (newest first),
filtered by object type, object and administrator. Read-only."""

from __future__ import annotations

import json
from typing import Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin

from ._pages_base import Page, Pages, page

__all__ = ["routes"]

_LIMITS: Final = (100, 500, 1000)


async def audit_log(current: Page) -> Response:
    query = current.query
    filters = {
        key: query.get(key, "").strip()[:128] or None
        for key in ("object_type", "object_id", "actor")
    }
    try:
        limit = int(query.get("limit", _LIMITS[0]))
    except ValueError:
        limit = _LIMITS[0]
    limit = limit if limit in _LIMITS else _LIMITS[0]
    rows = await admin.list_audit(
        current.ctx.store,
        limit=limit,
        object_type=filters["object_type"],
        object_id=filters["object_id"],
        actor=filters["actor"],
    )
    return current.render(
        "audit.html",
        title="Audit Log",
        rows=[(row, json.dumps(row.detail, sort_keys=True, default=str)) for row in rows],
        filters={k: v or "" for k, v in filters.items()},
        limit=limit,
        limits=_LIMITS,
    )


def routes(pages: Pages) -> list[Route]:
    return [Route("/audit", page(pages, audit_log), methods=["GET"])]
