"""Loopback fixtures: a prepared data directory per module, a fresh node per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipoauth.node import Node

from ._support import Prepared, prepare, start_node


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    root: Path = tmp_path_factory.mktemp("node")
    return asyncio.run(prepare(root))


@pytest.fixture
async def node(prepared: Prepared) -> AsyncIterator[Node]:
    n = await start_node(prepared)
    try:
        yield n
    finally:
        await n.close()
