"""Write-behind of the node's bindings to the store's ``registrations`` table.

Bindings live in the memory of the node that holds the device's connection
(DESIGN "One node, one process"); the table is a mirror so that every node
and the admin pages can see who is registered where. The registrar never
waits for it: changes are queued, coalesced per binding, and written every
``mirror_interval`` seconds; a failed write is kept and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog

from sipoauth.registrar import Binding, BindingChange, BindingKey
from sipoauth.store import Registration, Store

__all__ = ["BindingMirror"]

log = structlog.get_logger("sipoauth.node")


class BindingMirror:
    """The write-behind queue of one node's binding changes."""

    def __init__(self, store: Store, node_name: str, *, slack: float) -> None:
        self.store = store
        self.node_name = node_name
        self.slack = slack
        """See `NodeConfig.mirror_slack`."""
        self._pending: dict[BindingKey, Binding | None] = {}
        self._mirrored: dict[BindingKey, tuple[tuple[str, tuple[str, ...], str], float]] = {}
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
            if binding is not None and key not in pending:
                last = mirrored.get(key)
                if (
                    last is not None
                    and last[0] == (binding.contact, binding.path, binding.sid)
                    and binding.expires_at - last[1] < slack
                ):
                    continue
            pending[key] = binding

    async def flush(self) -> None:
        """Write pending binding changes to the store; on failure keep them for later."""
        if not self._pending:
            return
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        upserts = [_record(b, self.node_name) for b in batch.values() if b is not None]
        deletes = [key for key, b in batch.items() if b is None]
        try:
            if upserts:
                await self.store.registrations.upsert_many(upserts)
            if deletes:
                await self.store.registrations.delete_many(deletes)
        except Exception:
            log.exception("binding mirror write failed; will retry", pending=len(batch))
            for key, value in batch.items():
                self._pending.setdefault(key, value)
            return
        mirrored = self._mirrored
        for key, b in batch.items():
            if b is None:
                mirrored.pop(key, None)
            else:
                mirrored[key] = ((b.contact, b.path, b.sid), b.expires_at)

    async def clear(self) -> None:
        """Forget every binding and delete this node's rows (the bindings are gone:
        the CallManager service stopped, or the node did, or a crash left rows)."""
        async with self._lock:
            self._pending.clear()
            self._mirrored.clear()
            with contextlib.suppress(Exception):
                await self.store.registrations.delete_node(self.node_name)

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds, for ever (a task of the node)."""
        while True:
            await asyncio.sleep(interval)
            await self.flush()


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
