"""Nodes of the cluster and their listener ports (R5).

What each node's services are doing, and whether they wait for a restart
(R8), is in ``node_services`` (``_services.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from . import _models as m
from ._base import Repository
from ._types import NodeRole

__all__ = ["Node", "NodeRecord", "NodesRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A node as configured: what ``NodesRepository.upsert`` takes."""

    name: str
    """Node name, unique in the cluster (the CallManager server name)."""
    host: str
    """Host name or address phones and other nodes reach it at."""
    role: NodeRole = "publisher"
    sip_port: int = 5060
    secure_sip_port: int = 5061
    oauth_port: int = 5090
    """SIP Phone OAuth Port (R5): TLS registrations from inside."""
    mra_port: int = 5091
    """SIP Mobile and Remote Access Port (R5): mTLS from the edge."""
    web_port: int = 8443
    tftp_port: int = 6970
    tftp_secure_port: int = 6971


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRecord(Node):
    """A stored node."""

    id: int
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in dataclasses.fields(Node))


def _record(row: m.Node) -> NodeRecord:
    return NodeRecord(
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{name: getattr(row, name) for name in _FIELDS},
    )


class NodesRepository(Repository):
    """``store.nodes``."""

    __slots__ = ()

    async def upsert(self, node: Node) -> NodeRecord:
        """Insert ``node``, or replace every field of the node of that name.

        A :class:`NodeRecord` is a :class:`Node`, so ``get`` →
        ``dataclasses.replace`` → ``upsert`` edits a node.
        """
        now = self._now()
        values = {name: getattr(node, name) for name in _FIELDS}
        insert = self._insert(m.Node).values(**values, created_at=now, updated_at=now)
        stmt = insert.on_conflict_do_update(
            index_elements=[m.Node.name],
            set_={**{k: v for k, v in values.items() if k != "name"}, "updated_at": now},
        )
        async with self._write() as session:
            await session.execute(stmt)
            row = await session.scalar(select(m.Node).where(m.Node.name == node.name))
            assert row is not None
            return _record(row)

    async def get(self, name: str) -> NodeRecord | None:
        """The node called ``name``, if any."""
        async with self._read() as session:
            row = await session.scalar(select(m.Node).where(m.Node.name == name))
            return None if row is None else _record(row)

    async def list(self) -> list[NodeRecord]:
        """Every node, the publisher first, then by name."""
        query = select(m.Node).order_by(m.Node.role != "publisher", m.Node.name)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def delete(self, name: str) -> bool:
        """Remove the node; False when there was none of that name."""
        async with self._write() as session:
            row = await session.scalar(select(m.Node).where(m.Node.name == name))
            if row is None:
                return False
            await session.delete(row)
            return True
