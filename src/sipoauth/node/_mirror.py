"""Write-behind of the node's bindings to the store's ``registrations`` table.

Bindings live in the memory of the node that holds the device's connection
(DESIGN "One node, one process"); the table is a mirror so that every node
and the admin pages can see who is registered where. The registrar never
waits for it: changes are queued, coalesced per binding, and written every
``mirror_interval`` seconds; a failed write is kept and retried.

While the database is down (docs/cluster.md "Database outage") the node keeps
serving its devices and the changes wait here. The backlog stays bounded by
what the node holds: at most one entry per binding, the latest state wins, and
the removal of a binding that never reached the table is forgotten instead of
queued (there is no row to delete). When the database is back the next flush
writes what waited.

The table can also lose what was written: a crash of a server that acknowledged
commits before they were durable (``synchronous_commit = off``), a failover to
a standby that had not received them. The node's memory is the truth, so after
every lost database connection (the store delivers ``CATCH_UP``) the mirror
writes its bindings again and deletes the node's rows it does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog

from sipoauth.registrar import Binding, BindingChange, BindingKey
from sipoauth.store import CATCH_UP, Registration, Store, StoreError

__all__ = ["MIRROR_CHANNEL", "BindingMirror"]

log = structlog.get_logger("sipoauth.node")

MIRROR_CHANNEL = "registrations"
"""Channel the mirror listens on for ``CATCH_UP`` (nothing else is sent on it)."""


class BindingMirror:
    """The write-behind queue of one node's binding changes."""

    def __init__(self, store: Store, node_name: str, *, slack: float) -> None:
        self.store = store
        self.node_name = node_name
        self.slack = slack
        """See `NodeConfig.mirror_slack`."""
        self._pending: dict[BindingKey, Binding | None] = {}
        self._mirrored: dict[BindingKey, Binding] = {}
        """What the table holds for this node, as last written."""
        self._resync = False
        """Write every binding again and delete the rows not held (``resync``)."""
        self._unsure: set[BindingKey] = set()
        """Keys whose row may exist though they are not in ``_mirrored``: an upsert
        being written, or one whose write failed (the commit may have happened)."""
        self.failing = False
        """The last write failed (the database is down?); changes are waiting."""
        # One writer at a time: a flush in flight and `clear` must not interleave,
        # or a late upsert could bring back rows `clear` just deleted.
        self._lock = asyncio.Lock()

    def queue(self, changes: list[BindingChange]) -> None:
        """Queue binding changes for the store, skipping refreshes it need not see.

        A re-REGISTER that changes nothing but the expiry is written only when the
        stored expiry would lag by more than `slack` seconds: the mirror is for
        seeing who is registered where, and a steady refresh rate of thousands
        per second must not become as many database writes.
        """
        pending = self._pending
        mirrored = self._mirrored
        slack = self.slack
        for change in changes:
            key, binding = change.key, change.binding
            if binding is None:
                if key not in mirrored and key not in self._unsure:
                    # Never written, nor perhaps written: no row to delete.
                    pending.pop(key, None)
                    continue
            elif key not in pending:
                last = mirrored.get(key)
                if (
                    last is not None
                    and last.contact == binding.contact
                    and last.path == binding.path
                    and last.sid == binding.sid
                    and binding.expires_at - last.expires_at < slack
                ):
                    continue
            pending[key] = binding

    @property
    def backlog(self) -> int:
        """Binding changes waiting to be written (at most one per binding)."""
        return len(self._pending)

    def resync(self) -> None:
        """At the next flush, write every binding again and delete the node's rows
        it does not hold (the table may have lost writes: module docstring)."""
        self._resync = True

    async def flush(self) -> None:
        """Write pending binding changes to the store; on failure keep them for later."""
        if not self._pending and not self._resync:
            return
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending and not self._resync:
            return
        resync = self._resync
        if resync:
            for key, held in self._mirrored.items():
                self._pending.setdefault(key, held)
        batch, self._pending = self._pending, {}
        self._unsure.update(key for key, b in batch.items() if b is not None)
        upserts = [_record(b, self.node_name) for b in batch.values() if b is not None]
        deletes = [key for key, b in batch.items() if b is None]
        try:
            if resync:
                rows = await self.store.registrations.list(node_name=self.node_name)
                stale = [row.key for row in rows if row.key not in batch]
                deletes += stale
                for key in stale:
                    batch[key] = None
            if upserts:
                await self.store.registrations.upsert_many(upserts)
            if deletes:
                await self.store.registrations.delete_many(deletes)
        except BaseException as exc:
            # Kept for the next flush (also when cancelled); what was queued
            # meanwhile is newer and wins.
            for key, value in batch.items():
                self._pending.setdefault(key, value)
            if not isinstance(exc, Exception):
                raise
            # Logged once per outage, not at every retry (one a second).
            if not self.failing:
                self.failing = True
                log.warning(
                    "binding mirror write failed; changes kept and retried",
                    pending=len(batch),
                    error=(str(exc).splitlines() or [type(exc).__name__])[0],
                )
            return
        self._unsure.difference_update(batch)
        if resync:
            self._resync = False
            log.info("binding mirror rewritten", written=len(upserts), deleted=len(deletes))
        if self.failing:
            self.failing = False
            log.info("binding mirror written again", written=len(batch))
        mirrored = self._mirrored
        for key, b in batch.items():
            if b is None:
                mirrored.pop(key, None)
            else:
                mirrored[key] = b

    async def clear(self) -> None:
        """Forget every binding and delete this node's rows (the bindings are gone:
        the CallManager service stopped, or the node did, or a crash left rows)."""
        async with self._lock:
            self._pending.clear()
            self._mirrored.clear()
            self._unsure.clear()
            self._resync = False
            with contextlib.suppress(Exception):
                await self.store.registrations.delete_node(self.node_name)

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds, for ever (a task of the node), and
        resync after a lost database connection."""
        watcher = asyncio.create_task(self._watch_catch_up(), name="mirror-catch-up")
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch_catch_up(self) -> None:
        """``resync`` on every ``CATCH_UP``; the flushes never wait for this.
        (Subscribing does not fail while the database is down: it catches up.)"""
        try:
            async with self.store.listen(MIRROR_CHANNEL) as notes:
                async for payload in notes:
                    if payload == CATCH_UP:
                        self.resync()
        except StoreError:  # the store is closed, or LISTEN itself failed
            log.warning("binding mirror not told of lost connections", exc_info=True)


def _record(binding: Binding, node_name: str) -> Registration:
    return Registration(
        aor=binding.aor,
        instance=binding.instance,
        device_name=binding.device,
        contact=binding.contact,
        node_name=node_name,
        transport="TLS",
        path=binding.path,
        expires_at=datetime.fromtimestamp(binding.expires_at, UTC),
        call_id=binding.call_id,
        cseq=binding.cseq,
        sid=binding.sid or None,
    )
