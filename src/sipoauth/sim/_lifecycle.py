"""Running a simulated device as a task: start it, stop it, await its events.

:class:`DeviceLifecycle` is the part of every simulated device that is not
about phones. It runs ``_run()`` in a task and turns the way it ended into
the device's final event — ``stopped``; ``failed`` with the
:class:`SimError`'s reason; ``revoked`` — after ``_shutdown`` (which
unregisters, except after a revocation: the node has dropped the bindings
and would refuse the token). Callers get ``start()``, ``stop()`` (graceful,
cancelled after ``stop_grace`` seconds), ``finished()`` and ``wait_for()``.
Subclasses wait with ``_sleep`` / ``_idle_until`` and call ``_check_stop``,
so a ``stop()`` ends the run promptly.
"""

from __future__ import annotations

import asyncio
import contextlib

from ._errors import GrantRevoked, SimError
from ._events import EventLog, SimEvent

__all__ = ["DeviceLifecycle", "StopRequested"]


class StopRequested(Exception):
    """``stop()`` was called: unwind to the shutdown."""


class DeviceLifecycle:
    """A device's task, state and events."""

    def __init__(self, name: str, *, stop_grace: float) -> None:
        self.name = name
        self.log = EventLog()
        self.state = "idle"
        """idle, starting, registered, recovering, stopping, stopped, failed, revoked."""
        self.stop_grace = stop_grace
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    # -- public ------------------------------------------------------------------------

    def emit(self, kind: str, message: str, **data: str | int | float | bool | None) -> SimEvent:
        return self.log.emit(self.name, kind, message, **data)

    async def start(self) -> None:
        """Bring the device up in the background (await ``wait_for("registered")``)."""
        if self._task is not None:
            raise RuntimeError(f"{self.name} was started already")
        self.state = "starting"
        self._task = asyncio.create_task(self._main(), name=f"sim {self.name}")

    async def stop(self) -> SimEvent:
        """Shut down (unregister, close) if still running; the final event."""
        self._stop.set()
        self._wake.set()
        if self._task is None:
            self.state = "stopped"
            return self.emit("stopped", "stopped (never started)")
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.stop_grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return await self.finished()

    async def finished(self) -> SimEvent:
        """Wait until the device has ended; its final event."""
        if self._task is None:
            raise RuntimeError(f"{self.name} was never started")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)
        final = self.log.final
        assert final is not None
        return final

    async def wait_for(
        self, kind: str, *, since: int = 0, timeout: float | None = None
    ) -> SimEvent:
        """The first ``kind`` event after ``since`` (see :meth:`EventLog.wait_for`)."""
        return await self.log.wait_for(kind, since=since, timeout=timeout)

    def mark(self) -> int:
        """The latest event's number: ``wait_for(kind, since=mark)`` waits for a new one."""
        return self.log.mark()

    async def __aenter__(self) -> DeviceLifecycle:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- for subclasses -----------------------------------------------------------------

    async def _run(self) -> None:
        """The device's life until stopped (StopRequested) or a SimError."""
        raise NotImplementedError

    async def _shutdown(self, *, unregister: bool) -> None:
        """Unregister (when asked and possible) and close connections."""

    async def _closed(self) -> None:
        """After the shutdown, whatever the outcome (release shared resources)."""

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise StopRequested

    async def _sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds; StopRequested as soon as ``stop()`` is called."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop.wait()
        self._check_stop()

    def _wake_up(self) -> None:
        """Something happened (a request from the node, a flow closed, stop())."""
        self._wake.set()

    async def _idle_until(self, deadline: float) -> None:
        """Wait until ``deadline`` (loop time) or ``_wake_up()``, whichever first."""
        delay = deadline - self._loop.time()
        if delay > 0 and not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        self._wake.clear()

    # -- the task -----------------------------------------------------------------------

    async def _main(self) -> None:
        kind, message, reason = "stopped", "stopped", ""
        try:
            await self._run()
        except StopRequested:
            pass
        except GrantRevoked as exc:
            kind, message, reason = "revoked", f"{exc.message}: stopped", exc.reason
        except SimError as exc:
            kind, message, reason = "failed", f"failed: {exc.message}", exc.reason
        except asyncio.CancelledError:
            try:
                await self._shutdown(unregister=False)
                await self._closed()
            finally:
                self.state = "stopped"
                self.emit("stopped", "stopped (cancelled)")
            raise
        except Exception as exc:  # a bug must end the device visibly, not hang it
            kind, message, reason = "failed", f"failed: {type(exc).__name__}: {exc}", "internal"
        self.state = "stopping"
        try:
            await self._shutdown(unregister=kind != "revoked")
        finally:
            await self._closed()
            self.state = kind
            self.emit(kind, message, **({"reason": reason} if reason else {}))
