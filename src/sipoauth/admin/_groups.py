"""CallManager groups (Device > CallManager Group): the ordered servers a
device's config file lists; the phone registers to the first and fails over
to the next (DESIGN "One node, one process").

Rules enforced here, once, for every adapter (CLI, REST, pages):
- a name of 1-128 characters, no control characters, no leading or trailing
  space; ``Default`` (any case) is not a group's name: it means the Default
  group, every server of the cluster, the publisher first, then by name (a
  device's ``callmanager_group`` None);
- 1 to ``GROUP_NODES_MAX`` servers, each existing, none twice (Cisco's
  reference allows 3 in a group; more do no harm to a failover list);
- a description of at most 512 characters, one line;
- a group a device is in cannot be deleted (the message names some of them);
- a change of the servers or their order marks every phone of the group
  ``reset_required`` in the same transaction (its config file changes, R9
  "a phone must be reset for the change to take effect"); a new description
  does not.

Every change is audited (object type ``callmanager_group``) and announced on
the ``config`` channel, so that running nodes reload.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from sipoauth.store import (
    AlreadyExists,
    CallManagerGroup,
    CallManagerGroupRecord,
    InvalidReference,
    JsonValue,
    NodeRecord,
    Store,
)
from sipoauth.store import NotFound as StoreNotFound

from ._audit import audit
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "DEFAULT_GROUP",
    "GROUP_DESCRIPTION_MAX_LENGTH",
    "GROUP_NAME_MAX_LENGTH",
    "GROUP_NODES_MAX",
    "add_group",
    "check_group_name",
    "delete_group",
    "device_group",
    "find_groups",
    "get_group",
    "group_nodes",
    "group_usage",
    "is_default_group",
    "update_group",
]

DEFAULT_GROUP: Final = "Default"
"""What operators call the group of a device whose ``callmanager_group`` is None."""
GROUP_NAME_MAX_LENGTH: Final = 128
"""Characters of a group name at most (the ``callmanager_groups.name`` column)."""
GROUP_DESCRIPTION_MAX_LENGTH: Final = 512
"""Characters of a group description at most."""
GROUP_NODES_MAX: Final = 16
"""Servers of one group at most."""
_SHOWN_DEVICES: Final = 10
_OBJECT: Final = "callmanager-group"
_CHANNEL: Final = "config"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_default_group(name: str) -> bool:
    """Does ``name`` (as typed) mean the Default group?"""
    return name.strip().lower() == DEFAULT_GROUP.lower()


def device_group(name: str | None) -> str | None:
    """A device's ``callmanager_group`` as typed → as stored: None for the
    Default group (None or ``Default``, any case), else the name."""
    return None if name is None or is_default_group(name) else name.strip()


def _check_name(name: str) -> str:
    if not name or name != name.strip() or len(name) > GROUP_NAME_MAX_LENGTH:
        raise InvalidValue(
            f"CallManager group name {name!r}: 1-{GROUP_NAME_MAX_LENGTH} characters, "
            "without leading or trailing spaces"
        )
    if _CONTROL.search(name):
        raise InvalidValue(f"CallManager group name {name!r}: no control characters")
    if is_default_group(name):
        raise InvalidValue(
            f"CallManager group name {name!r}: {DEFAULT_GROUP} is every server of the "
            "cluster, the publisher first (a device without a group)"
        )
    return name


def _check_description(description: str) -> str:
    if len(description) > GROUP_DESCRIPTION_MAX_LENGTH:
        raise InvalidValue(
            f"description: at most {GROUP_DESCRIPTION_MAX_LENGTH} characters "
            f"(got {len(description)})"
        )
    if _CONTROL.search(description.replace("\t", " ")):
        raise InvalidValue("description: one line, no control characters")
    return description


async def _check_nodes(store: Store, nodes: Sequence[str]) -> tuple[str, ...]:
    """The servers in order: 1-16, each existing, none twice."""
    if isinstance(nodes, str):
        nodes = [nodes]
    names = tuple(node.strip() for node in nodes)
    if not 1 <= len(names) <= GROUP_NODES_MAX:
        raise InvalidValue(
            f"a CallManager group has 1 to {GROUP_NODES_MAX} servers (got {len(names)})"
        )
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InvalidValue(f"server {twice[0]!r} appears twice in the group")
    known = {node.name for node in await store.nodes.list()}
    for name in names:
        if name not in known:
            raise NotFound(f"server {name!r} is not configured")
    return names


async def check_group_name(store: Store, name: str | None) -> str | None:
    """A device's CallManager group as stored: None for the Default group
    (None or ``Default``, any case), else the name of an existing group
    (NotFound otherwise)."""
    name = device_group(name)
    if name is None:
        return None
    if await store.callmanager_groups.get(name) is None:
        raise NotFound(f"CallManager group {name!r} does not exist")
    return name


def _detail(group: CallManagerGroup) -> dict[str, JsonValue]:
    servers: list[JsonValue] = [*group.nodes]
    return {"description": group.description, "nodes": servers}


def _in_use(name: str, devices: Sequence[str]) -> Conflict:
    shown = ", ".join(devices[:_SHOWN_DEVICES])
    if len(devices) > _SHOWN_DEVICES:
        shown += f" and {len(devices) - _SHOWN_DEVICES} more"
    return Conflict(
        f"CallManager group {name!r} is the group of {shown}: "
        "give them another group (or Default) first"
    )


async def find_groups(store: Store, contains: str | None = None) -> list[CallManagerGroupRecord]:
    """CallManager groups by name; with ``contains``, those whose name,
    description or one of whose servers contains it (any case)."""
    groups = await store.callmanager_groups.list()
    if not contains:
        return groups
    wanted = contains.lower()
    return [
        group
        for group in groups
        if any(wanted in text.lower() for text in (group.name, group.description, *group.nodes))
    ]


async def get_group(store: Store, name: str) -> CallManagerGroupRecord:
    """The group of that name (NotFound when there is none)."""
    record = await store.callmanager_groups.get(name.strip())
    if record is None:
        raise NotFound(f"CallManager group {name.strip()!r} does not exist")
    return record


async def group_usage(store: Store) -> dict[str, int]:
    """How many devices each group has (groups without any are left out)."""
    return await store.callmanager_groups.usage_counts()


async def group_nodes(store: Store, name: str | None) -> list[NodeRecord]:
    """The servers a device of group ``name`` registers to, in order; None
    or ``Default``: every server, the publisher first, then by name."""
    group = await check_group_name(store, name)
    try:
        return await store.callmanager_groups.nodes_for(group)
    except StoreNotFound:  # deleted in between
        raise NotFound(f"CallManager group {name!r} does not exist") from None


async def add_group(
    store: Store, *, name: str, nodes: Sequence[str], description: str = ""
) -> CallManagerGroupRecord:
    """Add a CallManager group of the servers ``nodes``, tried in that order."""
    group = CallManagerGroup(
        name=_check_name(name),
        description=_check_description(description),
        nodes=await _check_nodes(store, nodes),
    )
    if await store.callmanager_groups.get(group.name) is not None:
        raise Conflict(f"CallManager group {group.name!r} exists already")
    try:
        record = await store.callmanager_groups.add(group)
    except AlreadyExists:  # added by someone else in between
        raise Conflict(f"CallManager group {group.name!r} exists already") from None
    except InvalidReference:  # a server deleted in between
        raise NotFound("a server of the group is no longer configured") from None
    await audit(store, "add", _OBJECT, record.name, _detail(record))
    await store.notify(_CHANNEL, f"callmanager group {record.name}")
    return record


async def update_group(
    store: Store,
    name: str,
    *,
    nodes: Sequence[str] | None = None,
    description: str | None = None,
) -> CallManagerGroupRecord:
    """Change a group; None leaves a field as it is. ``nodes`` replaces the
    whole ordered list; when it differs, the group's phones are marked
    ``reset_required`` (their config file changes)."""
    current = await get_group(store, name)
    group = CallManagerGroup(
        name=current.name,
        description=current.description if description is None else _check_description(description),
        nodes=current.nodes if nodes is None else await _check_nodes(store, nodes),
    )
    old = CallManagerGroup(name=current.name, description=current.description, nodes=current.nodes)
    if group == old:
        return current
    reset = group.nodes != current.nodes
    try:
        record = await store.callmanager_groups.update(group, reset_devices=reset)
    except StoreNotFound:  # deleted in between
        raise NotFound(f"CallManager group {current.name!r} does not exist") from None
    except InvalidReference:  # a server deleted in between
        raise NotFound("a server of the group is no longer configured") from None
    before, after = _detail(old), _detail(record)
    detail: dict[str, JsonValue] = {
        key: {"old": before[key], "new": after[key]} for key in after if before[key] != after[key]
    }
    if reset:
        detail["phones_reset_required"] = len(
            await store.callmanager_groups.devices_using(record.name)
        )
    await audit(store, "update", _OBJECT, record.name, detail)
    await store.notify(_CHANNEL, f"callmanager group {record.name}")
    return record


async def delete_group(store: Store, name: str) -> None:
    """Delete a group no device is in (Conflict, naming some of them, otherwise)."""
    current = await get_group(store, name)
    devices = await store.callmanager_groups.devices_using(current.name)
    if devices:
        raise _in_use(current.name, devices)
    try:
        deleted = await store.callmanager_groups.delete(current.name)
    except InvalidReference:  # a device was given it in between
        devices = await store.callmanager_groups.devices_using(current.name)
        raise _in_use(current.name, devices) from None
    if not deleted:
        raise NotFound(f"CallManager group {current.name!r} does not exist")
    await audit(store, "delete", _OBJECT, current.name, _detail(current))
    await store.notify(_CHANNEL, f"callmanager group {current.name}")
