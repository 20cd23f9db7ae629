"""The API on PostgreSQL, where text has lengths and NUL is refused: clear 4xx, no 500."""

from __future__ import annotations

import pytest

from ._checks import last_audit, refused
from ._support import Api

pytestmark = pytest.mark.postgresql


async def test_long_and_odd_values_are_refused_cleanly(pg_api: Api) -> None:
    api = pg_api
    async with api.client() as client:
        r = await client.post("/users", json={"user_id": "alice", "display_name": "é" * 256})
        assert r.status_code == 201, r.text
        r = await client.post(
            "/devices",
            json={"name": "SEP001122334455", "model": "8851", "description": "d" * 512},
        )
        assert r.status_code == 201, r.text
        assert await last_audit(api.store) == [("add", "device", "SEP001122334455")]
        for body in (
            {"name": "SEP00112233445A", "model": "x" * 65},
            {"name": "SEP00112233445B", "model": "8851", "owner": "o" * 129},
            {"name": "SEP00112233445C", "model": "8851", "profile": "p" * 129},
            {"name": "SEP00112233445D", "model": "8851", "mra_service_domain": "m" * 129},
        ):
            await refused(api, client, 422, "POST", "/devices", json=body)
        await refused(api, client, 422, "POST", "/edges", json={"address": "a" * 254})
        await refused(api, client, 422, "POST", "/profiles", json={"name": "p" * 129})
        await refused(
            api,
            client,
            422,
            "POST",
            "/mra-domains",
            json={"name": "m" * 129, "domains": ["a.example"]},
        )
        await refused(api, client, 422, "GET", "/devices", params={"model": "a\x00"})
        await refused(api, client, 422, "GET", "/audit", params={"actor": "a\x00"})
        for params in ({"name_contains": "%_\\'"}, {"owner": "o" * 128}, {"profile": "ü" * 100}):
            r = await client.get("/devices", params=params)
            assert r.status_code == 200 and r.json()["total"] == 0, (params, r.text)
        r = await client.get("/audit", params={"object_id": "x" * 256, "actor": "é"})
        assert r.status_code == 200 and r.json() == []
