"""Change notifications: delivered once to each listener, in order, across Stores."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text

from sipoauth.store import (
    CATCH_UP,
    MAX_PAYLOAD_BYTES,
    Store,
    StoreError,
    StoreOptions,
    Subscription,
)
from sipoauth.store._models import ChangeLog

from .conftest import FakeClock

FAST = StoreOptions(poll_interval=0.05)


async def take(sub: Subscription, count: int, timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


async def nothing_more(sub: Subscription, wait: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(anext(sub), wait)
    except TimeoutError:
        return True
    return False


@pytest_asyncio.fixture(loop_scope="function")
async def pair(db_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two Stores on one database, as two nodes (or a node and the CLI) would be."""
    first = await Store.open(db_url, options=FAST)
    second = await Store.open(db_url, options=FAST)
    try:
        await first.migrate()
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_in_order_once(store: Store) -> None:
    async with store.listen("devices") as sub:
        for i in range(25):
            await store.notify("devices", str(i))
        assert await take(sub, 25) == [str(i) for i in range(25)]
        assert await nothing_more(sub)


async def test_nothing_from_before_ready(store: Store) -> None:
    await store.notify("devices", "old")
    async with store.listen("devices") as sub:
        await store.notify("devices", "new")
        assert await take(sub, 1) == ["new"]
        assert await nothing_more(sub)


async def test_channels_are_separate(store: Store) -> None:
    async with store.listen("a") as on_a, store.listen("b") as on_b:
        for payload in ("a1", "b1", "a2", "b2", "a3"):
            await store.notify(payload[0], payload)
        assert await take(on_a, 3) == ["a1", "a2", "a3"]
        assert await take(on_b, 2) == ["b1", "b2"]
        assert await nothing_more(on_a, 0.1)
        assert await nothing_more(on_b, 0.1)


async def test_every_listener_gets_each(store: Store) -> None:
    async with store.listen("grants") as one, store.listen("grants") as two:
        await store.notify("grants", "revoked:g1")
        await store.notify("grants", "revoked:g2")
        assert await take(one, 2) == ["revoked:g1", "revoked:g2"]
        assert await take(two, 2) == ["revoked:g1", "revoked:g2"]


async def test_across_two_stores(pair: tuple[Store, Store]) -> None:
    first, second = pair
    async with first.listen("settings") as on_first, second.listen("settings") as on_second:
        await second.notify("settings", "from-second")
        await first.notify("settings", "from-first")
        await second.notify("settings", '{"key": "x"}')
        expected = ["from-second", "from-first", '{"key": "x"}']
        assert await take(on_first, 3) == expected
        assert await take(on_second, 3) == expected
        assert await nothing_more(on_first, 0.2)
        assert await nothing_more(on_second, 0.01)


async def test_concurrent_senders_one_order(pair: tuple[Store, Store]) -> None:
    first, second = pair
    async with first.listen("c") as on_first, second.listen("c") as on_second:

        async def send(store: Store, tag: str) -> None:
            for i in range(15):
                await store.notify("c", f"{tag}{i}")

        await asyncio.gather(send(first, "a"), send(second, "b"))
        seen_first = await take(on_first, 30)
        seen_second = await take(on_second, 30)
        assert seen_first == seen_second  # one total order for every listener
        assert [p for p in seen_first if p[0] == "a"] == [f"a{i}" for i in range(15)]
        assert [p for p in seen_first if p[0] == "b"] == [f"b{i}" for i in range(15)]
        assert await nothing_more(on_first, 0.2)


async def test_plain_iteration_and_aclose(store: Store) -> None:
    sub = store.listen("nodes")
    await sub.ready()
    await store.notify("nodes", "1")
    await store.notify("nodes", "2")
    got = []
    async for payload in sub:
        got.append(payload)
        if len(got) == 2:
            break
    assert got == ["1", "2"]
    other = store.listen("nodes")
    await other.ready()
    await sub.aclose()
    await store.notify("nodes", "3")
    assert await take(other, 1) == ["3"]
    with pytest.raises(StopAsyncIteration):
        await anext(sub)
    await other.aclose()


async def test_close_ends_iteration(db_url: str) -> None:
    store = await Store.open(db_url, options=FAST)
    await store.migrate()
    sub = store.listen("x")
    await sub.ready()

    async def drain() -> list[str]:
        return [payload async for payload in sub]

    task = asyncio.create_task(drain())
    await store.notify("x", "last")
    await asyncio.sleep(0.2)
    await store.close()
    assert await asyncio.wait_for(task, 5) == ["last"]
    await store.close()  # idempotent


@pytest.mark.parametrize("channel", ["", "1abc", "a b", "x" * 64, "semi;colon", 'quo"te'])
async def test_bad_channel(store: Store, channel: str) -> None:
    with pytest.raises(ValueError):
        await store.notify(channel, "p")
    with pytest.raises(ValueError):
        store.listen(channel)


async def test_payload_limit(store: Store) -> None:
    async with store.listen("big") as sub:
        await store.notify("big", "x" * MAX_PAYLOAD_BYTES)
        with pytest.raises(ValueError):
            await store.notify("big", "x" * (MAX_PAYLOAD_BYTES + 1))
        assert await take(sub, 1) == ["x" * MAX_PAYLOAD_BYTES]


async def test_channel_names_keep_case_and_punctuation(store: Store) -> None:
    async with (
        store.listen("Node.n1:reset-requests") as sub,
        store.listen("node.n1:reset-requests") as low,
    ):
        await store.notify("Node.n1:reset-requests", "SEP1")
        assert await take(sub, 1) == ["SEP1"]
        assert await nothing_more(low, 0.1)


async def test_sqlite_change_log_is_trimmed(tmp_path: object, clock: FakeClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    options = StoreOptions(
        poll_interval=0.05, change_log_retention=timedelta(seconds=30), change_log_trim_interval=0
    )
    store = await Store.open(url, clock=clock, options=options)
    try:
        await store.migrate()
        async with store.listen("t") as sub:
            for i in range(5):
                await store.notify("t", f"old{i}")
            # Delivered before they age out: the trim is for rows past retention,
            # which no listener this young still needs.
            assert await take(sub, 5) == [f"old{i}" for i in range(5)]
            clock.advance(60)
            await store.notify("t", "new")
            assert await take(sub, 1) == ["new"]
        async with store.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(ChangeLog)) == 1
        # Ids keep growing after trimming, so a listener's position stays valid.
        async with store.listen("t") as sub:
            clock.advance(60)
            await store.notify("t", "after")
            assert await take(sub, 1) == ["after"]
    finally:
        await store.close()


async def test_listen_after_close_fails(db_url: str) -> None:
    store = await Store.open(db_url)
    await store.close()
    with pytest.raises(StoreError):
        await store.listen("x").ready()


@pytest.mark.postgresql
async def test_postgresql_listener_reconnects(pg_db_url: str) -> None:
    """Notifications sent while the LISTEN connection is down are lost (the
    module docstring says so); once it is back the listener is told to catch up
    (CATCH_UP, before anything sent afterwards) and delivery resumes in order."""
    store = await Store.open(pg_db_url)
    try:
        async with store.listen("x") as sub:
            pid = store._notifier._conn.info.backend_pid  # type: ignore[attr-defined]
            async with store.engine.begin() as admin:
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            received: list[str] = []
            for attempt in range(100):
                await store.notify("x", str(attempt))
                with contextlib.suppress(TimeoutError):
                    received += await take(sub, 1, timeout=0.1)
                    break
            else:
                pytest.fail("no notification after the LISTEN connection was killed")
            await store.notify("x", "next")
            while (payload := (await take(sub, 1))[0]) != "next":
                received.append(payload)
            assert received[0] == CATCH_UP, received
            numbers = [int(p) for p in received[1:]]
            assert numbers == sorted(set(numbers))
            assert store._notifier._conn.info.backend_pid != pid  # type: ignore[attr-defined]
    finally:
        await store.close()
