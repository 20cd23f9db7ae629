"""Phones (issue 4 point 10, R1, R12.1): change, find, reset / apply config.

The rules are those of ``_devices`` (R1.1, R9, R12.1, names, lines), applied
to the whole changed record before anything is written. A change of anything
but the description marks the phone ``reset_required``: it reaches the phone
when the phone is reset or its config applied (R9, R12.1 "Save, Apply
Config"). ``reset_device`` bumps the phone's ``config_version``, clears
``reset_required`` and tells the nodes on the ``devices`` channel; the node
holding the phone's registration sends it the NOTIFY.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Sequence
from typing import Final, Literal

from sipoauth.store import Device, DeviceRecord, DeviceType, JsonValue, Store
from sipoauth.store import NotFound as StoreNotFound

from ._audit import audit
from ._devices import (
    CONFIG_CHANNEL,
    DEVICE_OBJECT,
    canonical_name,
    check_description,
    check_device,
    check_lines,
    check_model,
    device_detail,
)
from ._errors import InvalidValue, NotFound
from ._groups import device_group

__all__ = [
    "DEVICES_CHANNEL",
    "FIND_LIMIT_MAX",
    "UNSET",
    "ResetAction",
    "find_devices",
    "get_device",
    "reset_device",
    "update_device",
]

DEVICES_CHANNEL: Final = "devices"
"""Notification channel of resets: JSON ``{"device", "action", "config_version"}``."""
FIND_LIMIT_MAX: Final = 1000
"""Rows of one ``find_devices`` page at most."""
ResetAction = Literal["reset", "apply-config"]
"""Reset (the phone restarts) or Apply Config (it fetches its file again)."""
_RESET_ACTIONS: Final = ("reset", "apply-config")


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET: Final = _Unset.UNSET
"""A field of ``update_device`` left as it is (None clears owner and domain)."""


async def get_device(store: Store, name: str) -> DeviceRecord:
    """The device (desk phone names as typed, any case); NotFound if none."""
    record = await store.devices.get(canonical_name(name))
    if record is None:
        raise NotFound(f"device {canonical_name(name)} does not exist")
    return record


async def update_device(
    store: Store,
    name: str,
    *,
    model: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    owner: str | _Unset | None = UNSET,
    profile: str | _Unset = UNSET,
    lines: Sequence[str] | _Unset = UNSET,
    oauth_firmware: bool | _Unset = UNSET,
    requires_activation_code: bool | _Unset = UNSET,
    allow_activation_via_mra: bool | _Unset = UNSET,
    mra_service_domain: str | _Unset | None = UNSET,
    callmanager_group: str | _Unset | None = UNSET,
) -> DeviceRecord:
    """Change a phone; fields not given stay as they are.

    ``owner`` must be an existing end user, or None (no owner);
    ``mra_service_domain`` an existing MRA service domain, or None;
    ``callmanager_group`` an existing CallManager group, or None (or
    ``Default``, any case) for the Default group. The whole
    record is then checked as ``add_device`` checks a new one, and nothing is
    written when a rule refuses it. Any change but the description marks the
    phone ``reset_required``.
    """
    current = await get_device(store, name)
    fields = {f.name: getattr(current, f.name) for f in dataclasses.fields(Device)}
    base = Device(**fields)
    changes: dict[str, object] = {}
    if not isinstance(model, _Unset):
        changes["model"] = check_model(current.name, current.device_type, model)
    if not isinstance(description, _Unset):
        changes["description"] = check_description(description)
    if not isinstance(owner, _Unset):
        changes["owner_user_id"] = owner
    if not isinstance(profile, _Unset):
        changes["profile_name"] = profile
    for field, flag in (
        ("oauth_firmware", oauth_firmware),
        ("requires_activation_code", requires_activation_code),
        ("allow_activation_via_mra", allow_activation_via_mra),
    ):
        if not isinstance(flag, _Unset):
            changes[field] = flag
    if not isinstance(mra_service_domain, _Unset):
        changes["mra_service_domain"] = mra_service_domain
    if not isinstance(callmanager_group, _Unset):
        changes["callmanager_group"] = device_group(callmanager_group)
    new_lines = None if isinstance(lines, _Unset) else check_lines(lines)
    device = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    lines_changed = new_lines is not None and tuple(new_lines) != current.lines
    if device == base and not lines_changed:
        return current
    owner_changed = device.owner_user_id != base.owner_user_id
    await check_device(store, device, check_owner=owner_changed)
    if lines_changed or any(
        getattr(device, f) != getattr(base, f)
        for f in changes
        if f not in ("description", "reset_required", "config_version")
    ):
        device = dataclasses.replace(device, reset_required=True)
    try:
        record = await store.devices.update(device, new_lines if lines_changed else None)
    except StoreNotFound:  # deleted in between
        raise NotFound(f"device {current.name} does not exist") from None
    old = device_detail(base, current.lines)
    new = device_detail(record, record.lines)
    detail: dict[str, JsonValue] = {
        key: {"old": old[key], "new": new[key]} for key in new if old[key] != new[key]
    }
    await audit(store, "update", DEVICE_OBJECT, current.name, detail)
    await store.notify(CONFIG_CHANNEL, f"device {current.name}")
    return record


async def find_devices(
    store: Store,
    *,
    name_contains: str | None = None,
    model: str | None = None,
    owner: str | None = None,
    profile: str | None = None,
    device_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DeviceRecord], int]:
    """One page of the devices matching every filter given, by name, and how
    many match in all. ``name_contains`` and ``model`` ignore case
    (``name_contains`` is a substring; ``model`` the whole model)."""
    if not 1 <= limit <= FIND_LIMIT_MAX:
        raise InvalidValue(f"limit: 1 to {FIND_LIMIT_MAX} rows per page")
    if offset < 0:
        raise InvalidValue("offset: 0 or more")
    kind: DeviceType | None = None
    if device_type is not None:
        if device_type.lower() not in ("desk", "soft"):
            raise InvalidValue(f"device type {device_type!r}: desk or soft")
        kind = "desk" if device_type.lower() == "desk" else "soft"
    return await store.devices.find(
        name_contains=name_contains or None,
        model=model or None,
        owner_user_id=owner,
        profile_name=profile,
        device_type=kind,
        limit=limit,
        offset=offset,
    )


async def reset_device(store: Store, name: str, *, action: ResetAction) -> int:
    """Reset a phone or apply its config: bump its ``config_version`` (the new
    one is returned), clear ``reset_required`` and tell the nodes, whose node
    holding its registration sends it a NOTIFY down its flow."""
    if action not in _RESET_ACTIONS:
        raise InvalidValue(f"action {action!r}: reset or apply-config")
    name = canonical_name(name)
    try:
        version = await store.devices.apply_config(name)
    except StoreNotFound:
        raise NotFound(f"device {name} does not exist") from None
    await audit(store, action, DEVICE_OBJECT, name, {"config_version": version})
    await store.notify(
        DEVICES_CHANNEL,
        json.dumps({"device": name, "action": action, "config_version": version}),
    )
    return version
