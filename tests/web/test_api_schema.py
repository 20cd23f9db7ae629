"""The API against its own OpenAPI document (schemathesis): no 5xx, answers conform.

A representative set of operations — parameters, devices, users, edges,
profiles, CallManager groups; GET, POST, PUT and PATCH — gets generated
requests, valid and invalid.
The app and its store run on an event loop in a thread of their own (the
store's connections belong to one loop); each generated request is sent
there through httpx's ASGI transport and its response checked here against
the document: status declared, media type, headers and body schema.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ._support import ADMIN, API, BASE, PASSWORD, open_api

T = TypeVar("T")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 25
"""Generated requests per operation and mode (the whole run stays well under a minute)."""
OPERATIONS = r"^/(parameters|devices|users|edges|profiles|callmanager-groups)(/\{[a-z_]+\})?$"


class _Loop:
    """An event loop in a thread, running what the sync tests hand it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class _Served:
    def __init__(self, loop: _Loop, client: httpx.AsyncClient, doc: dict[str, Any]) -> None:
        self.loop = loop
        self.client = client
        self.doc = doc

    def send(self, case: schemathesis.Case) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url=BASE + API)
        request: dict[str, Any] = {
            "method": kwargs["method"],
            "url": kwargs["url"],
            "headers": kwargs.get("headers"),
            "params": kwargs.get("params"),
        }
        if kwargs.get("json") is not None:
            request["json"] = kwargs["json"]
        elif kwargs.get("data") is not None:
            data = kwargs["data"]
            request["content"] = data if isinstance(data, bytes | str) else str(data)
        return self.loop.run(self.client.request(**request))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, _api_template: Path) -> Iterator[_Served]:
    root = tmp_path_factory.mktemp("schema") / "api"
    shutil.copytree(_api_template, root)
    loop = _Loop()
    stack = AsyncExitStack()

    async def start() -> tuple[httpx.AsyncClient, dict[str, Any]]:
        api = await stack.enter_async_context(
            open_api(f"sqlite+aiosqlite:///{root / 'sipoauth.db'}", root / "var")
        )
        client = await stack.enter_async_context(api.client(auth=(ADMIN, PASSWORD)))
        doc = (await client.get("/openapi.json")).json()
        return client, doc

    try:
        client, doc = loop.run(start())
        yield _Served(loop, client, doc)
    finally:
        loop.run(stack.aclose())
        loop.close()


def _operations(doc: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(doc).include(
        path_regex=OPERATIONS, method=["GET", "POST", "PUT", "PATCH"]
    )
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(served: _Served, mode: GenerationMode) -> None:
    operations = _operations(served.doc)
    assert len(operations) >= 12, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            case.validate_response(served.send(case), checks=CHECKS)

        conforms()
