"""Assertions shared by the route tests."""

from __future__ import annotations

from typing import Any

import httpx

from sipoauth import admin
from sipoauth.store import Store

from ._support import ADMIN, Api, snapshot


async def last_audit(store: Store, count: int = 1) -> list[tuple[str, str, str]]:
    """``(action, object_type, object_id)`` of the newest rows, all by the API admin."""
    rows = await admin.list_audit(store, limit=count)
    assert all((r.actor, r.interface) == (ADMIN, "api") for r in rows), rows
    return [(r.action, r.object_type, r.object_id) for r in rows]


async def refused(
    api: Api, client: httpx.AsyncClient, status: int, method: str, path: str, **kw: Any
) -> dict[str, Any]:
    """The call is refused with ``status`` in the error format; nothing changed."""
    before = await snapshot(api.store)
    r = await client.request(method, path, **kw)
    assert r.status_code == status, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert body["error"] and body["message"]
    assert await snapshot(api.store) == before
    return body
