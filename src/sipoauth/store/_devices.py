"""Devices (phones and soft clients) and their lines."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import _models as m
from ._base import Repository
from ._errors import NotFound
from ._types import DeviceType

__all__ = ["Device", "DeviceRecord", "DevicesRepository", "Line"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """A directory number at a line button of a device."""

    position: int
    """Button position, 1-based."""
    dn: str
    """Directory number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """A device as configured (R1, R2.3, R12.1)."""

    name: str
    """Device name: ``SEP`` + MAC for desk phones, ``CSF``/``BOT``/``TCT``/``TAB``
    + user for soft clients."""
    model: str
    """Model, e.g. ``8851`` or ``CSF`` (R1.1)."""
    device_type: DeviceType
    profile_name: str
    """Security profile (must exist)."""
    description: str = ""
    owner_user_id: str | None = None
    oauth_firmware: bool = False
    """The firmware supports SIP OAuth (R2.3)."""
    allow_activation_via_mra: bool = False
    """Allow Activation Code via MRA (R12.1)."""
    mra_service_domain: str | None = None
    """Activation Code MRA Service Domain (R12.1)."""
    requires_activation_code: bool = False
    """Requires Activation Code for Onboarding (REFERENCE-BEHAVIOUR "Activation codes")."""
    config_version: int = 1
    """Bumped by Apply Config / Reset: the device fetches its file again."""
    reset_required: bool = False
    """A change (e.g. of its security profile) waits for a reset of the device (R9)."""
    callmanager_group: str | None = None
    """The CallManager group its config file lists (must exist); None: the
    Default group, every server of the cluster, publisher first."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRecord(Device):
    """A stored device with its lines, ordered by position."""

    lines: tuple[Line, ...]
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in dataclasses.fields(Device))


def _record(row: m.Device) -> DeviceRecord:
    return DeviceRecord(
        lines=tuple(Line(position=line.position, dn=line.dn) for line in row.lines),
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{name: getattr(row, name) for name in _FIELDS},
    )


async def _load(session: AsyncSession, name: str) -> m.Device | None:
    query = select(m.Device).where(m.Device.name == name)
    return await session.scalar(query.execution_options(populate_existing=True))


async def _insert_lines(session: AsyncSession, name: str, lines: Iterable[Line]) -> None:
    rows = [{"device_name": name, "position": line.position, "dn": line.dn} for line in lines]
    if rows:
        await session.execute(insert(m.Line), rows)


class DevicesRepository(Repository):
    """``store.devices``: devices with their lines, kept together."""

    __slots__ = ()

    async def add(self, device: Device, lines: Iterable[Line] = ()) -> DeviceRecord:
        """Add a device and its lines in one transaction.

        AlreadyExists when the name (or a line position) is taken;
        InvalidReference when the profile does not exist.
        """
        now = self._now()
        values = {name: getattr(device, name) for name in _FIELDS}
        async with self._write() as session:
            await session.execute(insert(m.Device).values(**values, created_at=now, updated_at=now))
            await _insert_lines(session, device.name, lines)
            row = await _load(session, device.name)
            assert row is not None
            return _record(row)

    async def get(self, name: str) -> DeviceRecord | None:
        """The device of that name with its lines, if any."""
        async with self._read() as session:
            row = await _load(session, name)
            return None if row is None else _record(row)

    async def list(
        self, *, profile_name: str | None = None, owner_user_id: str | None = None
    ) -> list[DeviceRecord]:
        """Devices by name, optionally only those of a profile or an owner."""
        query = select(m.Device).order_by(m.Device.name)
        if profile_name is not None:
            query = query.where(m.Device.profile_name == profile_name)
        if owner_user_id is not None:
            query = query.where(m.Device.owner_user_id == owner_user_id)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def find(
        self,
        *,
        name_contains: str | None = None,
        model: str | None = None,
        owner_user_id: str | None = None,
        profile_name: str | None = None,
        device_type: DeviceType | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[builtins.list[DeviceRecord], int]:
        """One page (``limit`` rows after ``offset``) of the devices matching
        every filter given, by name, and how many match in all.

        ``name_contains`` is a substring, ``model`` the whole model, both
        ignoring case; ``%`` and ``_`` are plain characters. Two statements
        (count, page) and one for the page's lines, in one read transaction.
        """
        where: builtins.list[ColumnElement[bool]] = []
        if name_contains is not None:
            where.append(m.Device.name.icontains(name_contains, autoescape=True))
        if model is not None:
            where.append(func.lower(m.Device.model) == model.lower())
        if owner_user_id is not None:
            where.append(m.Device.owner_user_id == owner_user_id)
        if profile_name is not None:
            where.append(m.Device.profile_name == profile_name)
        if device_type is not None:
            where.append(m.Device.device_type == device_type)
        count = select(func.count()).select_from(m.Device).where(*where)
        page = select(m.Device).where(*where).order_by(m.Device.name).limit(limit).offset(offset)
        async with self._read() as session:
            total = int(await session.scalar(count) or 0)
            rows = [_record(row) for row in await session.scalars(page)]
        return rows, total

    async def mark_default_group_reset_required(self) -> int:
        """Mark every device of the Default CallManager group (no group of its
        own) ``reset_required``: the cluster's servers changed, so its node list
        did. The number of devices marked."""
        stmt = (
            update(m.Device)
            .where(m.Device.callmanager_group.is_(None))
            .values(reset_required=True, updated_at=self._now())
        )
        async with self._write() as session:
            result = await session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def apply_config(self, name: str) -> int:
        """Reset / Apply Config: bump the device's ``config_version`` and clear
        ``reset_required``, in one statement; the new version. NotFound when
        there is no such device."""
        stmt = (
            update(m.Device)
            .where(m.Device.name == name)
            .values(
                config_version=m.Device.config_version + 1,
                reset_required=False,
                updated_at=self._now(),
            )
            .returning(m.Device.config_version)
        )
        async with self._write() as session:
            version = (await session.execute(stmt)).scalar_one_or_none()
        if version is None:
            raise NotFound(f"no device {name!r}")
        return int(version)

    async def update(self, device: Device, lines: Iterable[Line] | None = None) -> DeviceRecord:
        """Replace the fields of the device of that name and, when ``lines`` is
        given, its whole line list; atomically. NotFound when there is none."""
        values = {name: getattr(device, name) for name in _FIELDS if name != "name"}
        stmt = (
            update(m.Device)
            .where(m.Device.name == device.name)
            .values(**values, updated_at=self._now())
            .returning(m.Device.name)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no device {device.name!r}")
            if lines is not None:
                await session.execute(delete(m.Line).where(m.Line.device_name == device.name))
                await _insert_lines(session, device.name, lines)
            row = await _load(session, device.name)
            assert row is not None
            return _record(row)

    async def delete(self, name: str) -> bool:
        """Remove the device and its lines; False when there was none."""
        stmt = delete(m.Device).where(m.Device.name == name).returning(m.Device.name)
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def rename(self, old: str, new: str) -> DeviceRecord:
        """Rename a device; its lines follow (ON UPDATE CASCADE), atomically.

        NotFound when ``old`` does not exist; AlreadyExists when ``new`` does.
        """
        stmt = (
            update(m.Device)
            .where(m.Device.name == old)
            .values(name=new, updated_at=self._now())
            .returning(m.Device.name)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no device {old!r}")
            row = await _load(session, new)
            assert row is not None
            return _record(row)
