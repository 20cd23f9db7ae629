"""Services of the nodes (R8): their state, "restart pending", and the commands
administrators send them.

``node_services`` has one row per node and service (``callmanager``,
``tomcat``, ``tftp``). The node writes its state (and what the running
service applied: SIP OAuth mode, ports) when a service starts or stops; the
administration rules raise ``restart_pending`` when a change waits for a
restart (mode, ports, the web certificate); the node clears it when that
service starts again.

``service_commands`` is the control channel to running nodes: an
administrator's interface writes a ``pending`` command, the node it is for
claims it (``pending`` → ``running``, atomically: one executor even if two
loops race), executes it and records the outcome. Only the holder of the
database can write commands, which is what authenticates the channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from . import _models as m
from ._base import Repository
from ._errors import NotFound
from ._types import CommandStatus, JsonValue, ServiceAction, ServiceName, ServiceState

__all__ = [
    "NodeServiceRecord",
    "NodeServicesRepository",
    "ServiceCommandRecord",
    "ServiceCommandsRepository",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeServiceRecord:
    """The state of one service of one node."""

    node_name: str
    service: ServiceName
    state: ServiceState
    """As last reported by the node (``unknown`` until it reports)."""
    restart_pending: bool
    """A change waits for this service to restart (R8)."""
    started_at: datetime | None
    """When the running service started (None when never reported)."""
    applied: Mapping[str, JsonValue]
    """What the running service applied, e.g. ``{"sip_oauth_mode": true,
    "ports": {"oauth": 5090, "mra": 5091}}``."""
    message: str
    """The last error or remark of the node about the service."""
    updated_at: datetime


def _service(row: m.NodeService) -> NodeServiceRecord:
    return NodeServiceRecord(
        node_name=row.node_name,
        service=row.service,
        state=row.state,
        restart_pending=row.restart_pending,
        started_at=row.started_at,
        applied=dict(row.applied),
        message=row.message,
        updated_at=row.updated_at,
    )


class NodeServicesRepository(Repository):
    """``store.node_services``."""

    __slots__ = ()

    async def get(self, node_name: str, service: ServiceName) -> NodeServiceRecord | None:
        """The row of that node and service, if any."""
        async with self._read() as session:
            row = await session.get(m.NodeService, (node_name, service))
            return None if row is None else _service(row)

    async def list(self, node_name: str | None = None) -> list[NodeServiceRecord]:
        """Every row (or those of one node), by node and service."""
        query = select(m.NodeService).order_by(m.NodeService.node_name, m.NodeService.service)
        if node_name is not None:
            query = query.where(m.NodeService.node_name == node_name)
        async with self._read() as session:
            return [_service(row) for row in await session.scalars(query)]

    async def set_state(
        self,
        node_name: str,
        service: ServiceName,
        state: ServiceState,
        *,
        started_at: datetime | None = None,
        applied: Mapping[str, JsonValue] | None = None,
        message: str = "",
    ) -> NodeServiceRecord:
        """Record what the node reports of a service (insert or update).

        ``started_at`` and ``applied`` replace the stored values when given and
        are kept otherwise; ``restart_pending`` is kept (see
        :meth:`clear_restart_pending`). InvalidReference when there is no
        such node.
        """
        now = self._now()
        values: dict[str, Any] = {
            "node_name": node_name,
            "service": service,
            "state": state,
            "restart_pending": False,
            "started_at": started_at,
            "applied": dict(applied or {}),
            "message": message,
            "updated_at": now,
        }
        changes: dict[str, Any] = {"state": state, "message": message, "updated_at": now}
        if started_at is not None:
            changes["started_at"] = started_at
        if applied is not None:
            changes["applied"] = dict(applied)
        stmt = (
            self._insert(m.NodeService)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[m.NodeService.node_name, m.NodeService.service], set_=changes
            )
        )
        async with self._write() as session:
            await session.execute(stmt)
            row = await session.get(m.NodeService, (node_name, service), populate_existing=True)
            assert row is not None
            return _service(row)

    async def mark_restart_pending(
        self, node_names: Iterable[str] | None, services: Iterable[ServiceName]
    ) -> int:
        """Raise "restart pending" of ``services`` on those nodes (None: every
        node), in one transaction; names of unknown nodes are skipped. A row
        missing so far is made with state ``unknown``. How many rows are marked."""
        wanted = list(dict.fromkeys(services))
        now = self._now()
        query = select(m.Node.name)
        if node_names is not None:
            query = query.where(m.Node.name.in_(list(node_names)))
        async with self._write() as session:
            names = list(await session.scalars(query))
            rows = [
                {
                    "node_name": name,
                    "service": service,
                    "state": "unknown",
                    "restart_pending": True,
                    "applied": {},
                    "message": "",
                    "updated_at": now,
                }
                for name in names
                for service in wanted
            ]
            if not rows:
                return 0
            stmt = self._insert(m.NodeService).on_conflict_do_update(
                index_elements=[m.NodeService.node_name, m.NodeService.service],
                set_={"restart_pending": True, "updated_at": now},
            )
            await session.execute(stmt, rows)
            return len(rows)

    async def clear_restart_pending(self, node_name: str, service: ServiceName) -> bool:
        """Lower the flag (the service restarted); False when there is no row."""
        stmt = (
            update(m.NodeService)
            .where(m.NodeService.node_name == node_name, m.NodeService.service == service)
            .values(restart_pending=False, updated_at=self._now())
            .returning(m.NodeService.node_name)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceCommandRecord:
    """A start, stop or restart asked of a service on a node."""

    id: int
    node_name: str
    service: ServiceName
    action: ServiceAction
    requested_by: str
    """The administrator (or OS user) who asked."""
    requested_at: datetime
    status: CommandStatus
    message: str
    """The node's account of the outcome."""
    done_at: datetime | None


def _command(row: m.ServiceCommand) -> ServiceCommandRecord:
    return ServiceCommandRecord(
        id=row.id,
        node_name=row.node_name,
        service=row.service,
        action=row.action,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        status=row.status,
        message=row.message,
        done_at=row.done_at,
    )


class ServiceCommandsRepository(Repository):
    """``store.service_commands``."""

    __slots__ = ()

    async def add(
        self, node_name: str, service: ServiceName, action: ServiceAction, *, requested_by: str
    ) -> ServiceCommandRecord:
        """Queue a command (status ``pending``) for the node to execute."""
        stmt = (
            insert(m.ServiceCommand)
            .values(
                node_name=node_name,
                service=service,
                action=action,
                requested_by=requested_by,
                requested_at=self._now(),
                status="pending",
                message="",
                done_at=None,
            )
            .returning(m.ServiceCommand.id)
        )
        async with self._write() as session:
            command_id = (await session.execute(stmt)).scalar_one()
            row = await session.get(m.ServiceCommand, command_id)
            assert row is not None
            return _command(row)

    async def get(self, command_id: int) -> ServiceCommandRecord | None:
        """The command with that id, if any."""
        async with self._read() as session:
            row = await session.get(m.ServiceCommand, command_id)
            return None if row is None else _command(row)

    async def pending(self, node_name: str) -> list[ServiceCommandRecord]:
        """The node's commands not claimed yet, oldest first."""
        query = (
            select(m.ServiceCommand)
            .where(m.ServiceCommand.node_name == node_name, m.ServiceCommand.status == "pending")
            .order_by(m.ServiceCommand.id)
        )
        async with self._read() as session:
            return [_command(row) for row in await session.scalars(query)]

    async def claim(self, command_id: int) -> bool:
        """``pending`` → ``running`` in one statement: True for the one caller
        that got it, False when it was claimed already (or does not exist)."""
        stmt = (
            update(m.ServiceCommand)
            .where(m.ServiceCommand.id == command_id, m.ServiceCommand.status == "pending")
            .values(status="running")
            .returning(m.ServiceCommand.id)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def finish(self, command_id: int, ok: bool, message: str = "") -> ServiceCommandRecord:
        """Record the outcome: ``done`` or ``failed``, now (NotFound when none)."""
        stmt = (
            update(m.ServiceCommand)
            .where(m.ServiceCommand.id == command_id)
            .values(status="done" if ok else "failed", message=message, done_at=self._now())
            .returning(m.ServiceCommand.id)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no service command {command_id}")
            row = await session.get(m.ServiceCommand, command_id, populate_existing=True)
            assert row is not None
            return _command(row)

    async def purge(self, before: datetime) -> int:
        """Delete commands requested before ``before`` (whatever their status:
        a command that old and still pending is for a node that is gone); how many."""
        stmt = (
            delete(m.ServiceCommand)
            .where(m.ServiceCommand.requested_at < before)
            .returning(m.ServiceCommand.id)
        )
        async with self._write() as session:
            return len((await session.execute(stmt)).all())
