"""CallManager groups: the ordered servers a device registers to (failover).

A device's config file lists the servers of its group in order; the phone
registers to the first and fails over to the next. A device without a group
(``callmanager_group`` NULL) is in the Default group: every server of the
cluster, the publisher first, then by name (``nodes_for(None)``).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import _models as m
from ._base import Repository
from ._errors import NotFound
from ._nodes import NodeRecord
from ._nodes import _record as _node_record

__all__ = ["CallManagerGroup", "CallManagerGroupRecord", "CallManagerGroupsRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallManagerGroup:
    """A CallManager group as configured.

    The rules (1-16 existing servers, no duplicate) are enforced in
    ``admin/``; the store keeps what it is given, within its constraints.
    """

    name: str
    """Its name (1-128 characters), unique."""
    description: str = ""
    nodes: tuple[str, ...] = ()
    """Names of its servers, in the order devices try them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallManagerGroupRecord(CallManagerGroup):
    """A stored CallManager group."""

    created_at: datetime
    updated_at: datetime


def _record(row: m.CallManagerGroup) -> CallManagerGroupRecord:
    return CallManagerGroupRecord(
        name=row.name,
        description=row.description,
        nodes=tuple(member.node_name for member in row.members),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _load(session: AsyncSession, name: str) -> m.CallManagerGroup | None:
    query = select(m.CallManagerGroup).where(m.CallManagerGroup.name == name)
    return await session.scalar(query.execution_options(populate_existing=True))


async def _insert_members(session: AsyncSession, name: str, nodes: Sequence[str]) -> None:
    rows = [
        {"group_name": name, "position": position, "node_name": node}
        for position, node in enumerate(nodes)
    ]
    if rows:
        await session.execute(insert(m.CallManagerGroupMember), rows)


class CallManagerGroupsRepository(Repository):
    """``store.callmanager_groups``: groups with their ordered members, kept together."""

    __slots__ = ()

    async def add(self, group: CallManagerGroup) -> CallManagerGroupRecord:
        """Add a group and its members in one transaction.

        AlreadyExists when the name is taken (or a server appears twice);
        InvalidReference when a server does not exist.
        """
        now = self._now()
        async with self._write() as session:
            await session.execute(
                insert(m.CallManagerGroup).values(
                    name=group.name, description=group.description, created_at=now, updated_at=now
                )
            )
            await _insert_members(session, group.name, group.nodes)
            row = await _load(session, group.name)
            assert row is not None
            return _record(row)

    async def get(self, name: str) -> CallManagerGroupRecord | None:
        """The group of that name with its members, if any."""
        async with self._read() as session:
            row = await _load(session, name)
            return None if row is None else _record(row)

    async def list(self) -> builtins.list[CallManagerGroupRecord]:
        """Every group, by name."""
        query = select(m.CallManagerGroup).order_by(m.CallManagerGroup.name)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def update(
        self, group: CallManagerGroup, *, reset_devices: bool = False
    ) -> CallManagerGroupRecord:
        """Replace the description and the whole member list of the group of
        that name, atomically. With ``reset_devices``, every device in the
        group is marked ``reset_required`` in the same transaction.

        NotFound when there is no such group; InvalidReference /
        AlreadyExists as for ``add`` (nothing is then changed).
        """
        stmt = (
            update(m.CallManagerGroup)
            .where(m.CallManagerGroup.name == group.name)
            .values(description=group.description, updated_at=self._now())
            .returning(m.CallManagerGroup.name)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no CallManager group {group.name!r}")
            await session.execute(
                delete(m.CallManagerGroupMember).where(
                    m.CallManagerGroupMember.group_name == group.name
                )
            )
            await _insert_members(session, group.name, group.nodes)
            if reset_devices:
                await session.execute(
                    update(m.Device)
                    .where(m.Device.callmanager_group == group.name)
                    .values(reset_required=True)
                )
            row = await _load(session, group.name)
            assert row is not None
            return _record(row)

    async def delete(self, name: str) -> bool:
        """Remove a group and its members; False when there was none.

        Raises InvalidReference while devices are in it.
        """
        stmt = (
            delete(m.CallManagerGroup)
            .where(m.CallManagerGroup.name == name)
            .returning(m.CallManagerGroup.name)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def devices_using(self, name: str) -> builtins.list[str]:
        """Names of the devices in the group, sorted."""
        query = (
            select(m.Device.name).where(m.Device.callmanager_group == name).order_by(m.Device.name)
        )
        async with self._read() as session:
            return builtins.list(await session.scalars(query))

    async def usage_counts(self) -> dict[str, int]:
        """Devices per group name (groups no device is in are left out)."""
        query = (
            select(m.Device.callmanager_group, func.count())
            .where(m.Device.callmanager_group.is_not(None))
            .group_by(m.Device.callmanager_group)
        )
        async with self._read() as session:
            return {str(name): int(count) for name, count in await session.execute(query)}

    async def nodes_for(self, group_name: str | None) -> builtins.list[NodeRecord]:
        """The servers a device of that group registers to, in order.

        None: the Default group, every server, the publisher first, then by
        name. A group whose servers were all deleted gives an empty list.
        NotFound when a named group does not exist.
        """
        if group_name is None:
            query = select(m.Node).order_by(m.Node.role != "publisher", m.Node.name)
            async with self._read() as session:
                return [_node_record(row) for row in await session.scalars(query)]
        members = (
            select(m.Node)
            .join(m.CallManagerGroupMember, m.CallManagerGroupMember.node_name == m.Node.name)
            .where(m.CallManagerGroupMember.group_name == group_name)
            .order_by(m.CallManagerGroupMember.position)
        )
        async with self._read() as session:
            if await session.get(m.CallManagerGroup, group_name) is None:
                raise NotFound(f"no CallManager group {group_name!r}")
            return [_node_record(row) for row in await session.scalars(members)]
