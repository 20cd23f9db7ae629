"""What a simulated device reports: one event per step, as a status line or JSON.

Every step of the lifecycle emits a :class:`SimEvent` (``caconfig``,
``activated``, ``config``, ``registered``, ``token-refreshed``, ``notify``,
``unregistered`` …) into the device's :class:`EventLog`. The CLI prints each
as one line (``SEP001122334455  config v3 from node1:6971``) or, with
``--json``, as one JSON object per line; tests and the load generator await
them (``await log.wait_for("registered")``). Messages never carry a token, a
refresh token, a password or a whole activation code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

__all__ = ["FINAL_KINDS", "DeviceStopped", "EventLog", "SimEvent"]

FINAL_KINDS: Final = frozenset({"stopped", "failed", "revoked"})
"""Kinds after which a device emits nothing more."""

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One step of a device's lifecycle."""

    seq: int
    """1, 2, … in the order the device emitted them."""
    device: str
    """The device's name (``SEP…``, ``CSF…``) when the step happened."""
    kind: str
    """``caconfig``, ``default-config``, ``activated``, ``signed-in``, ``config``,
    ``failover``, ``registered``, ``token-refreshed``, ``notify``,
    ``connection-lost``, ``unregistered``, ``stopped``, ``failed``, ``revoked``."""
    message: str
    """What a person reads on the status line."""
    time: float
    """Wall-clock time (seconds since the epoch)."""
    data: Mapping[str, Scalar] = field(default_factory=dict)
    """Machine-readable details (``config_version``, ``node``, ``expires`` …)."""

    def status_line(self) -> str:
        return f"{self.device:<16} {self.message}"

    def to_json(self) -> str:
        stamp = datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds")
        return json.dumps(
            {
                "time": stamp,
                "device": self.device,
                "event": self.kind,
                "message": self.message,
                **self.data,
            },
            separators=(",", ":"),
        )


class DeviceStopped(Exception):
    """The device ended before the awaited event; ``event`` is its last one."""

    def __init__(self, event: SimEvent) -> None:
        super().__init__(f"{event.device}: {event.message}")
        self.event = event


class EventLog:
    """A device's events, to subscribe to or await."""

    def __init__(self, *, clock: Callable[[], float] = time.time, keep: int = 512) -> None:
        self._clock = clock
        self._events: deque[SimEvent] = deque(maxlen=keep)
        self._seq = 0
        self._changed = asyncio.Event()
        self._subscribers: list[Callable[[SimEvent], None]] = []
        self.final: SimEvent | None = None
        """The ``stopped`` / ``failed`` / ``revoked`` event, once emitted."""

    def subscribe(self, callback: Callable[[SimEvent], None]) -> None:
        """Call ``callback`` with every event from now on (it must not block)."""
        self._subscribers.append(callback)

    def emit(self, device: str, kind: str, message: str, **data: Scalar) -> SimEvent:
        self._seq += 1
        event = SimEvent(self._seq, device, kind, message, self._clock(), data)
        self._events.append(event)
        if kind in FINAL_KINDS and self.final is None:
            self.final = event
        for callback in self._subscribers:
            callback(event)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return event

    def mark(self) -> int:
        """The sequence number of the latest event (0 before any): pass it as
        ``since`` to wait for a later one."""
        return self._seq

    def find(self, kind: str, since: int = 0) -> SimEvent | None:
        """The first event of ``kind`` after ``since``, if any."""
        return next((e for e in self._events if e.seq > since and e.kind == kind), None)

    def last(self, kind: str) -> SimEvent | None:
        return next((e for e in reversed(self._events) if e.kind == kind), None)

    def count(self, kind: str) -> int:
        return sum(1 for e in self._events if e.kind == kind)

    @property
    def events(self) -> list[SimEvent]:
        return list(self._events)

    async def wait_for(
        self, kind: str, *, since: int = 0, timeout: float | None = None
    ) -> SimEvent:
        """The first event of ``kind`` after ``since`` (at once when it happened
        already). DeviceStopped when the device ends without it; TimeoutError
        after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                found = self.find(kind, since)
                if found is not None:
                    return found
                if self.final is not None:
                    raise DeviceStopped(self.final)
                await self._changed.wait()
