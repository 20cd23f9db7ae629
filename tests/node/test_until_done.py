"""After a lost database connection comes back, the node's catch-up (configuration
reload, revocations it may have missed) is retried until it succeeds: a first
failed read must not leave the node on stale configuration or with a revoked
grant registered (issue 8 point 2)."""

from __future__ import annotations

import pytest

from sipoauth.node._node import until_done
from sipoauth.store import StoreUnavailable


async def test_retried_with_doubling_waits_until_it_succeeds() -> None:
    calls: list[int] = []
    waits: list[float] = []

    async def action() -> None:
        calls.append(len(calls))
        if len(calls) <= 5:
            raise StoreUnavailable("connection refused")

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    await until_done("catch-up", action, first_delay=0.5, max_delay=4.0, sleep=sleep)
    assert len(calls) == 6
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]


async def test_done_at_once_waits_for_nothing() -> None:
    waits: list[float] = []

    async def action() -> None:
        return None

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    await until_done("catch-up", action, sleep=sleep)
    assert waits == []


async def test_a_bug_is_not_retried() -> None:
    """Only the database's failures are worth waiting for."""
    calls: list[int] = []

    async def action() -> None:
        calls.append(1)
        raise KeyError("a bug")

    await until_done("catch-up", action)
    assert calls == [1]


async def test_cancellation_is_not_swallowed() -> None:
    """The node stops its tasks by cancelling them: a retry loop must end then."""
    import asyncio

    async def action() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await until_done("catch-up", action)
