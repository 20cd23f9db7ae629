"""Cluster-wide parameters: one JSON value per key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select

from . import _models as m
from ._base import Repository
from ._types import JsonValue

__all__ = ["SettingsRepository"]


class SettingsRepository(Repository):
    """``store.settings``: enterprise parameters and other cluster settings.

    Values are JSON (``None``, bools, numbers, strings, lists, objects). Which
    keys exist and what they mean is decided in ``admin/``, not here.
    """

    __slots__ = ()

    async def get(self, key: str, default: JsonValue = None) -> JsonValue:
        """The value of ``key``, or ``default`` when it was never set."""
        async with self._read() as session:
            row = await session.get(m.Setting, key)
            return default if row is None else row.value

    async def get_many(self, keys: Iterable[str] | None = None) -> dict[str, JsonValue]:
        """Every setting (``keys`` None) or those of ``keys`` that are set."""
        query = select(m.Setting.key, m.Setting.value)
        if keys is not None:
            query = query.where(m.Setting.key.in_(list(keys)))
        async with self._read() as session:
            rows = await session.execute(query.order_by(m.Setting.key))
            return {key: value for key, value in rows}

    async def set(self, key: str, value: JsonValue) -> None:
        """Set one value (insert or replace)."""
        await self.set_many({key: value})

    async def set_many(self, values: Mapping[str, JsonValue]) -> None:
        """Set several values at once: all are saved or none (R4 "saved as a unit")."""
        if not values:
            return
        now = self._now()
        rows = [{"key": key, "value": value, "updated_at": now} for key, value in values.items()]
        insert = self._insert(m.Setting)
        stmt = insert.on_conflict_do_update(
            index_elements=[m.Setting.key],
            set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
        )
        async with self._write() as session:
            await session.execute(stmt, rows)

    async def add_if_absent(self, key: str, value: JsonValue) -> bool:
        """Set ``key`` unless it is set (another process may race): True if set now."""
        insert = self._insert(m.Setting)
        stmt = insert.values(key=key, value=value, updated_at=self._now())
        stmt = stmt.on_conflict_do_nothing(index_elements=[m.Setting.key])
        async with self._write() as session:
            result = await session.execute(stmt)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, key: str) -> bool:
        """Forget ``key`` (back to its default); False when it was not set."""
        async with self._write() as session:
            result = await session.execute(delete(m.Setting).where(m.Setting.key == key))
            return bool(result.rowcount)  # type: ignore[attr-defined]
