"""Bad input of any kind: a clear 4xx in one format, nothing changed, no 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ._support import PASSWORD, Api, snapshot

JSON = {"content-type": "application/json"}


async def _refused(api: Api, method: str, path: str, **kw: Any) -> dict[str, Any]:
    before = await snapshot(api.store)
    async with api.client() as client:
        r = await client.request(method, path, **kw)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["cache-control"] == "no-store"
    assert await snapshot(api.store) == before
    body: dict[str, Any] = r.json()
    assert set(body) <= {"error", "message", "field", "errors"}
    assert body["message"]
    return {"status": r.status_code, **body}


async def test_malformed_json(api: Api) -> None:
    for raw in (b"{not json", b'{"name": "SEP001122334455",', b"\xff\xfe", b"[" * 30000):
        body = await _refused(api, "POST", "/devices", content=raw, headers=JSON)
        assert body["status"] == 400 and body["error"] == "invalid_json", body


async def test_wrong_types_name_the_field(api: Api) -> None:
    body = await _refused(
        api, "POST", "/devices", json={"name": "SEP001122334455", "model": 8851, "lines": []}
    )
    assert body["status"] == 422 and body["error"] == "invalid_value"
    assert body["field"] == "model"
    body = await _refused(api, "PATCH", "/servers/node1/ports", json={"sip_port": "5070"})
    assert body["field"] == "sip_port"
    body = await _refused(api, "PATCH", "/servers/node1/ports", json={"sip_port": True})
    assert body["field"] == "sip_port"
    body = await _refused(api, "POST", "/users", json=["alice"])
    assert body["status"] == 422


async def test_unknown_fields_are_refused(api: Api) -> None:
    body = await _refused(
        api, "POST", "/users", json={"user_id": "alice", "is_admin": True, "password": "x" * 12}
    )
    assert body["status"] == 422 and body["field"] == "is_admin"
    assert "unknown field" in body["message"]
    body = await _refused(api, "PATCH", "/profiles/whatever", json={"oauth": True, "colour": 1})
    assert body["field"] == "colour"


async def test_null_for_a_field_that_cannot_be_cleared(api: Api) -> None:
    body = await _refused(api, "PATCH", "/servers/node1/ports", json={"web_port": None})
    assert body["status"] == 422 and body["field"] == "web_port"


async def test_missing_body_and_wrong_media_type(api: Api) -> None:
    body = await _refused(api, "POST", "/devices")
    assert body["status"] == 422
    body = await _refused(
        api,
        "POST",
        "/devices",
        content=json.dumps({"name": "SEP001122334455", "model": "8851"}),
        headers={"content-type": "text/plain"},
    )
    assert body["status"] == 422
    body = await _refused(api, "POST", "/devices/import", content=b"name,model\n", headers=JSON)
    assert body["status"] == 415 and body["error"] == "unsupported_media_type"


async def test_rule_refusal_gives_the_rule_message(api: Api) -> None:
    body = await _refused(
        api, "PUT", "/parameters/OAuth Access Token Expiry Timer (minutes)", json={"value": 2000}
    )
    assert body["status"] == 422 and "1 and 1440" in body["message"]


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "\ud800", "\udfff x"],
)
async def test_nul_and_unpaired_surrogates_refused(api: Api, value: str) -> None:
    raw = json.dumps({"user_id": "alice", "display_name": value}).encode()
    body = await _refused(api, "POST", "/users", content=raw, headers=JSON)
    assert body["status"] == 422
    body = await _refused(api, "GET", "/devices", params={"name_contains": "a\x00b"})
    assert body["status"] == 422 and body["field"] == "name_contains"


async def test_body_limits(api: Api) -> None:
    big = json.dumps({"user_id": "alice", "display_name": "x" * 70_000})
    body = await _refused(api, "POST", "/users", content=big, headers=JSON)
    assert body["status"] == 413 and body["error"] == "payload_too_large"
    # uploads may be larger, up to 1 MiB
    pem = b"-----BEGIN CERTIFICATE-----\n" + b"A" * 200_000 + b"\n-----END CERTIFICATE-----\n"
    body = await _refused(
        api,
        "POST",
        "/certificates/tomcat-trust",
        content=pem,
        headers={"content-type": "application/x-pem-file"},
    )
    assert body["status"] == 422  # read, parsed and refused by the rule
    body = await _refused(
        api,
        "POST",
        "/certificates/tomcat-trust",
        content=b"A" * (1024 * 1024 + 1),
        headers={"content-type": "application/octet-stream"},
    )
    assert body["status"] == 413
    csv = "name,model\n" + "SEP001122334455,8851\n" * 60_000
    body = await _refused(
        api, "POST", "/devices/import", content=csv, headers={"content-type": "text/csv"}
    )
    assert body["status"] == 413


async def test_chunked_body_over_the_limit(api: Api) -> None:
    async def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 8192

    body = await _refused(api, "POST", "/users", content=chunks(), headers=JSON)
    assert body["status"] == 413


async def test_unknown_route_and_method(api: Api) -> None:
    body = await _refused(api, "GET", "/no/such/thing")
    assert body["status"] == 404 and body["error"] == "not_found"
    async with api.client() as client:
        r = await client.put("/devices")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    assert r.json()["error"] == "method_not_allowed"


async def test_path_and_query_validation(api: Api) -> None:
    body = await _refused(api, "GET", "/devices", params={"limit": 0})
    assert body["status"] == 422 and body["field"] == "limit"
    body = await _refused(api, "GET", "/devices", params={"offset": 10**30})
    assert body["field"] == "offset"
    body = await _refused(api, "GET", "/audit", params={"since": "2026-01-01T00:00:00"})
    assert body["field"] == "since"  # a time without a zone is ambiguous
    body = await _refused(api, "GET", "/certificates/no-such-store")
    assert body["status"] == 422 and body["field"] == "store"
    body = await _refused(api, "GET", "/keys/both")
    assert body["field"] == "which"


async def test_no_secret_in_a_refusal(api: Api) -> None:
    secret = "Sup3r-secret-password!"
    body = await _refused(api, "POST", "/users", json={"user_id": "bad id!", "password": secret})
    assert secret not in json.dumps(body)
    body = await _refused(api, "POST", "/users", json={"user_id": "ok", "password": 12345678})
    assert "12345678" not in json.dumps(body)
    assert PASSWORD not in json.dumps(body)
