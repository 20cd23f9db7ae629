"""The control channel: service commands from administrators to this node (R8).

Theory of operation
-------------------
An administrator's interface (``admin.request_service``: the CLI with the
database, the REST API behind admin authentication) writes a ``pending``
command to ``service_commands`` and notifies the ``control`` channel with the
node's name. Writing needs the database or an authenticated administrator,
which is what authenticates the channel; the node only ever reads its own
commands (``pending(node)``) and never executes one for another node.

The node listens on ``control`` (PostgreSQL LISTEN/NOTIFY, or SQLite's change
log, through ``store.listen``) and on each notification for it, and every
``control_poll_interval`` seconds in case one was missed (a dropped LISTEN
connection, a command written while the node was down), takes its pending
commands oldest first. Each is claimed under the supervisor's lock
(``pending`` → ``running`` in one statement: one executor even when two loops
race), executed by the supervisor, and finished ``done`` or ``failed`` with a
sentence for the operator. The commands run in this task, never inside a web
request, so a restart of Cisco Tomcat asked through Tomcat works: the request
that asked has been answered, or finishes before its connection closes.

A command older than ``control_command_ttl`` when the node gets to it (it
was queued while the node was down) fails as expired instead of surprising
the operator long after. The node stopping waits for the command in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from sipoauth.admin._services import CONTROL_CHANNEL
from sipoauth.store import CATCH_UP, ServiceCommandRecord, Store

from ._services import ServiceError, Supervisor

__all__ = ["CONTROL_CHANNEL", "ControlChannel"]

log = structlog.get_logger("sipoauth.node")


class ControlChannel:
    """Executes this node's service commands (module docstring)."""

    def __init__(
        self,
        store: Store,
        node_name: str,
        supervisor: Supervisor,
        *,
        poll_interval: float,
        command_ttl: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.node_name = node_name
        self.supervisor = supervisor
        self.poll_interval = poll_interval
        self.command_ttl = timedelta(seconds=command_ttl)
        self._clock = clock

    async def run(self) -> None:
        """Listen and execute, for ever (a task of the node)."""
        async with self.store.listen(CONTROL_CHANNEL) as notes:
            while True:
                await self.drain()
                try:
                    async with asyncio.timeout(self.poll_interval):
                        # Commands for other nodes wake this one for nothing: skip them.
                        while await anext(notes) not in ("", self.node_name, CATCH_UP):
                            pass
                except TimeoutError:
                    pass
                except StopAsyncIteration:  # the store closed
                    return

    async def drain(self) -> int:
        """Execute this node's pending commands, oldest first; how many it ran."""
        try:
            commands = await self.store.service_commands.pending(self.node_name)
        except Exception:
            log.warning("service commands not read; will retry", exc_info=True)
            return 0
        done = 0
        for command in commands:
            if command.node_name != self.node_name:  # never another node's
                continue
            try:
                done += await self._execute(command)
            except Exception:
                log.exception("service command not recorded", command=command.id)
        return done

    async def _execute(self, command: ServiceCommandRecord) -> int:
        async with self.supervisor.lock:
            if not await self.store.service_commands.claim(command.id):
                return 0  # another loop of this node took it
            age = self._clock() - command.requested_at
            if age > self.command_ttl:
                message = (
                    f"expired: requested at {command.requested_at:%Y-%m-%d %H:%M:%S} UTC, "
                    f"more than {int(self.command_ttl.total_seconds())} s before "
                    f"{self.node_name} could run it"
                )
                await self.store.service_commands.finish(command.id, False, message)
                log.info("service command expired", command=command.id)
                return 0
            log.info(
                "service command",
                command=command.id,
                service=command.service,
                action=command.action,
                requested_by=command.requested_by,
            )
            try:
                message = await self.supervisor.execute(command.service, command.action)
                ok = True
            except ServiceError as exc:
                message, ok = str(exc), False
            except Exception as exc:  # the channel must outlive a broken command
                log.exception("service command failed", command=command.id)
                message, ok = f"{command.action} failed: {exc or type(exc).__name__}", False
            await self.store.service_commands.finish(command.id, ok, message)
            log.info("service command finished", command=command.id, ok=ok, message=message)
            return 1
