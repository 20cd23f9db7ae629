"""Change notifications between nodes (and the CLI): ``notify`` / ``listen``.

Theory of operation
-------------------
A *channel* names what changed (``settings``, ``devices``, ``grants`` …); a
*payload* is a short string (an id, or JSON). Each :class:`Subscription` gets
every notification sent on its channel after it became ready, once, in the
order they were committed.

PostgreSQL (cluster): ``pg_notify`` in a transaction of its own; each Store
keeps one dedicated psycopg connection in autocommit that LISTENs to the
channels its subscriptions want, and one reader task dispatching to them.
psycopg's ``notifies()`` holds the connection while it waits, so the reader is
paused (cancelled while waiting on the socket, which loses nothing: the
server queues notifications for the session) to run LISTEN, then resumed.
If the connection drops, the reader reconnects with backoff and re-LISTENs;
notifications sent while it was down are lost, so once it listens again it
delivers :data:`CATCH_UP` to every subscription (one made while it was down
too: subscribing never fails for want of the database, so a node's listeners
started just as the database went away are not lost for good): the listener re-reads from
the database what it cares about (a node: its configuration, revoked grants,
service commands, its registrations' mirror). The connection only ever reads,
so a server that vanishes without closing it (host lost, network cut, an
address moved by a failover) would never be noticed: unless the URL says
otherwise it runs with TCP keepalives and a connect timeout
(:data:`LISTEN_CONNECTION_DEFAULTS`).

SQLite (one node, plus the CLI in another process): notifications are rows of
``change_log`` (id AUTOINCREMENT, so ids only grow, even after trimming). One
poller task per Store reads rows past its cursor, in id order, every
``poll_interval`` seconds, or at once when this process sent one (the in-process
fast path sets an event instead of delivering directly, so local and foreign
notifications keep one order). Each subscription remembers the id it started
after. SQLite has one writer at a time, so id order is commit order. Rows older
than ``change_log_retention`` are deleted now and then by ``notify``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from types import TracebackType
from typing import Final, Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy import delete, exc, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from . import _models as m
from ._base import Clock, StoreContext
from ._errors import StoreError, StoreUnavailable, translate

__all__ = [
    "CATCH_UP",
    "LISTEN_CONNECTION_DEFAULTS",
    "MAX_PAYLOAD_BYTES",
    "Subscription",
    "check_notification",
]

log = logging.getLogger(__name__)

CATCH_UP: Final = "\x00catch-up"
"""Delivered to every subscription after notifications may have been lost (the
PostgreSQL LISTEN connection dropped and is back): read the state again. No
real payload can be equal to it (PostgreSQL text holds no NUL)."""

MAX_PAYLOAD_BYTES: Final = 7999
"""PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; SQLite follows suit."""

LISTEN_CONNECTION_DEFAULTS: Final = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
"""libpq parameters of the PostgreSQL LISTEN connection where the database URL
gives none: a dead server is noticed in about a minute (30 s idle, then 3
probes 10 s apart), and a reconnection attempt gives up after 10 s."""
LISTEN_BACKOFF_MAX: Final = 5.0
"""Longest wait, in seconds, between two attempts to reconnect the listener."""

_CHANNEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,62}")
_BATCH: Final = 1000
"""change_log rows read per poll."""


def check_notification(channel: str, payload: str) -> None:
    """Refuse a channel name or payload that would not work on both databases."""
    if not _CHANNEL.fullmatch(channel):
        raise ValueError(f"invalid channel name {channel!r}")
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"notification payload over {MAX_PAYLOAD_BYTES} bytes")


class _Hub(Protocol):
    async def subscribe(self, sub: Subscription) -> None: ...
    def unsubscribe(self, sub: Subscription) -> None: ...


class Subscription(AsyncIterator[str]):
    """Payloads sent on one channel: ``store.listen(channel)``.

    Iterate it (``async for payload in sub``), or use it as an async context
    manager (``async with store.listen(ch) as sub:``), which waits until it
    is subscribed on entry and unsubscribes on exit. Notifications sent after
    :meth:`ready` returned are delivered, or else :data:`CATCH_UP` is: when
    the PostgreSQL listener could not connect (the database is down), ``ready``
    returns all the same and the subscription gets CATCH_UP once it listens.
    Iteration subscribes on first use, and ends when the subscription or the
    Store is closed.
    """

    def __init__(self, hub: _Hub, channel: str) -> None:
        check_notification(channel, "")
        self.channel: Final = channel
        self._hub = hub
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._subscribed = False
        self._closed = False
        self.after = 0
        """change_log id this subscription starts after (SQLite)."""

    async def ready(self) -> None:
        """Subscribe, if not done yet; from then on nothing is missed."""
        async with self._lock:
            if not self._subscribed and not self._closed:
                await self._hub.subscribe(self)
                self._subscribed = True

    async def aclose(self) -> None:
        """Unsubscribe; iteration ends after what was already received."""
        self._end()

    def deliver(self, payload: str) -> None:
        """Queue one payload (called by the hub)."""
        if not self._closed:
            self._queue.put_nowait(payload)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            if self._subscribed:
                self._hub.unsubscribe(self)
            self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str:
        await self.ready()
        payload = await self._queue.get()
        if payload is None:
            self._queue.put_nowait(None)  # stay ended
            raise StopAsyncIteration
        return payload

    async def __aenter__(self) -> Subscription:
        await self.ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Notifier:
    """What the Store needs of either implementation."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Subscription]] = {}
        self._closed = False

    async def notify(self, channel: str, payload: str) -> None:
        raise NotImplementedError

    async def subscribe(self, sub: Subscription) -> None:
        raise NotImplementedError

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.channel, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(sub.channel, None)

    def listen(self, channel: str) -> Subscription:
        return Subscription(self, channel)

    async def close(self) -> None:
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub._end()
        self._subs.clear()


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task])


class LogNotifier(Notifier):
    """SQLite: the ``change_log`` table, polled (module docstring)."""

    def __init__(
        self,
        ctx: StoreContext,
        *,
        poll_interval: float,
        retention: timedelta,
        trim_interval: float,
    ) -> None:
        super().__init__()
        self._ctx = ctx
        self._clock: Clock = ctx.clock
        self._poll_interval = poll_interval
        self._retention = retention
        self._trim_interval = trim_interval
        self._last_trim: float | None = None
        self._cursor = 0
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    async def notify(self, channel: str, payload: str) -> None:
        now = self._clock()
        loop_time = asyncio.get_running_loop().time()
        trim = self._last_trim is None or loop_time - self._last_trim >= self._trim_interval
        async with self._ctx.gate(), self._ctx.write.begin() as session:
            await session.execute(
                insert(m.ChangeLog).values(channel=channel, payload=payload, created_at=now)
            )
            if trim:
                await session.execute(
                    delete(m.ChangeLog).where(m.ChangeLog.created_at < now - self._retention)
                )
        if trim:
            self._last_trim = loop_time
        self._wake.set()

    async def subscribe(self, sub: Subscription) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            async with self._ctx.read.begin() as session:
                query = select(func.coalesce(func.max(m.ChangeLog.id), 0))
                last = await session.scalar(query)
        except exc.DBAPIError as error:
            raise translate(error) from error
        sub.after = int(last or 0)
        if not self._subs:
            self._cursor = max(self._cursor, sub.after)
        self._subs.setdefault(sub.channel, []).append(sub)
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="sipoauth-store-poll")

    async def _poll(self) -> None:
        while True:
            if not self._subs:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval):
                        await self._wake.wait()
            self._wake.clear()
            if not self._subs:
                continue
            try:
                more = await self._poll_once()
            except Exception:  # the poller must outlive a busy or broken database
                log.warning("change_log poll failed", exc_info=True)
                continue
            if more:
                self._wake.set()

    async def _poll_once(self) -> bool:
        query = (
            select(m.ChangeLog.id, m.ChangeLog.channel, m.ChangeLog.payload)
            .where(m.ChangeLog.id > self._cursor, m.ChangeLog.channel.in_(list(self._subs)))
            .order_by(m.ChangeLog.id)
            .limit(_BATCH)
        )
        async with self._ctx.read.begin() as session:
            rows = (await session.execute(query)).all()
        for row_id, channel, payload in rows:
            for sub in list(self._subs.get(channel, ())):
                if row_id > sub.after:
                    sub.after = row_id
                    sub.deliver(payload)
            self._cursor = row_id
        return len(rows) == _BATCH

    async def close(self) -> None:
        self._closed = True
        await _stop(self._poller)
        self._poller = None
        await super().close()


def _listen_conninfo(engine: AsyncEngine, conninfo: str) -> str:
    """The LISTEN connection's libpq string: ``conninfo`` with what the engine
    connects with (a URL naming several hosts, ``?host=a:5432&host=b:5432`` for a
    failover pair, is text SQLAlchemy turns into ``host=a,b port=5432,5432``,
    which libpq takes), then :data:`LISTEN_CONNECTION_DEFAULTS` the URL lacks."""
    _, params = engine.dialect.create_connect_args(engine.url)
    libpq = {k: str(v) for k, v in params.items() if isinstance(v, str | int)}
    # A driver option libpq does not know: keep the URL's text as it is.
    with contextlib.suppress(psycopg.ProgrammingError):
        conninfo = make_conninfo(conninfo, **libpq)
    given = conninfo_to_dict(conninfo)
    defaults = {k: v for k, v in LISTEN_CONNECTION_DEFAULTS.items() if k not in given}
    return make_conninfo(conninfo, **defaults)


class PgNotifier(Notifier):
    """PostgreSQL: LISTEN/NOTIFY on a dedicated connection (module docstring)."""

    def __init__(self, engine: AsyncEngine, conninfo: str) -> None:
        super().__init__()
        self._engine = engine
        self._conn: psycopg.AsyncConnection[object] | None = None
        self._lock = asyncio.Lock()
        self._listening: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._lost = False
        """The connection dropped; the next reader tells the listeners to catch up."""
        self._listen_conninfo = _listen_conninfo(engine, conninfo)

    async def notify(self, channel: str, payload: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": channel, "payload": payload},
            )

    async def subscribe(self, sub: Subscription) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        async with self._lock:
            await _stop(self._reader)
            try:
                conn = await self._connection()
                if sub.channel not in self._listening:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(sub.channel)))
                    self._listening.add(sub.channel)
                self._subs.setdefault(sub.channel, []).append(sub)
            except psycopg.OperationalError as error:
                # The database is out of reach: subscribed all the same; the reader
                # LISTENs once it connects and tells every subscription to catch up.
                await self._drop_connection()
                self._listening.add(sub.channel)
                self._subs.setdefault(sub.channel, []).append(sub)
                if not self._lost:
                    why = (str(error).splitlines() or [type(error).__name__])[0]
                    log.warning("cannot LISTEN yet; listeners will catch up: %s", why)
                self._lost = True
            except psycopg.Error as error:
                await self._drop_connection()
                raise StoreUnavailable(f"cannot LISTEN: {error}") from error
            finally:
                if self._listening and not self._closed:
                    self._reader = asyncio.create_task(self._read(), name="sipoauth-store-listen")

    async def _connection(self) -> psycopg.AsyncConnection[object]:
        """The listening connection, (re)opened with every channel LISTENed."""
        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(self._listen_conninfo, autocommit=True)
            try:
                for channel in sorted(self._listening):
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with self._lock:
                    conn = await self._connection()
                backoff = 0.1
                if self._lost:  # listening again: what was sent meanwhile is gone
                    self._lost = False
                    log.warning("LISTEN connection back; listeners catch up")
                    for subs in list(self._subs.values()):
                        for sub in list(subs):
                            sub.deliver(CATCH_UP)
                async for note in conn.notifies():
                    for sub in list(self._subs.get(note.channel, ())):
                        sub.deliver(note.payload)
            except psycopg.Error as error:
                # Once per outage, not at every attempt; the driver's first line says why.
                why = (str(error).splitlines() or [type(error).__name__])[0]
                if self._lost:
                    log.debug("LISTEN connection not back yet: %s", why)
                else:
                    log.warning("LISTEN connection lost; reconnecting: %s", why)
                self._lost = True
                await self._drop_connection()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, LISTEN_BACKOFF_MAX)

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            await _stop(self._reader)
            self._reader = None
            await self._drop_connection()
        await super().close()
