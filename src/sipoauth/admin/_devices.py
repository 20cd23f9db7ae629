"""Devices, their security profiles and lines (R1, R9), as the registrar needs them.

Rules enforced here, once, for every adapter (CLI, REST, pages):
- R1.1: only the listed models may have an OAuth-enabled profile;
- R9: an OAuth profile is Encrypted + TLS, without digest and encrypted TFTP config;
- device names: `SEP` + 12 hex digits (or `BAT` + 12 hex before activation) for
  desk phones, `CSF`/`BOT`/`TCT`/`TAB` + a user-ish name for soft clients;
- a phone uses a profile of its own model or a Universal Device Template one;
- activation-code fields (R12.1) are for desk phones only, and the MRA service
  domain named must exist;
- the CallManager group named must exist (None, or ``Default`` when typed,
  is the Default group: every server, the publisher first).

`add_device` and `delete_device` live here; changing, finding and resetting
phones in ``_phones``; both use the checks of this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Literal

from sipoauth.store import (
    AlreadyExists,
    Device,
    DeviceRecord,
    DeviceType,
    JsonValue,
    Line,
    SecurityProfile,
    SecurityProfileRecord,
    Store,
)

from ._audit import audit
from ._errors import Conflict, InvalidValue, NotFound
from ._groups import check_group_name, device_group

SOFT_CLIENT_TYPES: Final = ("CSF", "BOT", "TCT", "TAB")
"""R1.1 soft clients: desktop (CSF), Android (BOT), iPhone (TCT), tablet (TAB)."""
OAUTH_DESK_MODELS: Final = frozenset(
    {
        "8811", "8841", "8851", "8851NR", "8861", "7811", "7821", "7841", "7861",
        "8845", "8865", "8865NR", "7832", "8832", "8832NR",
    }
)  # fmt: skip
"""R1.1 desk phones that support SIP OAuth."""
UNIVERSAL_TEMPLATE: Final = "Universal Device Template"

DEFAULT_PROFILE: Final = "Universal Device Template - Model-independent Security Profile"
OAUTH_PROFILE: Final = "Universal Device Template - OAuth Security Profile"

_DESK_NAME = re.compile(r"(SEP|BAT)[0-9A-F]{12}")
_SOFT_NAME = re.compile(r"(CSF|BOT|TCT|TAB)[A-Z0-9._-]{1,12}")
_DN = re.compile(r"\+?[0-9*#]{1,24}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

DEVICE_DESCRIPTION_MAX_LENGTH: Final = 512
"""Characters of a device description at most."""
DEVICE_LINES_MAX: Final = 64
"""Lines (directory numbers) of one device at most."""
DEVICE_OBJECT: Final = "device"
"""Object type of devices in the audit log."""
CONFIG_CHANNEL: Final = "config"
"""Notification channel: configuration changed (nodes reload)."""


def oauth_capable(device_type: str, model: str) -> bool:
    """R1.1: may this model have an OAuth-enabled security profile?"""
    if device_type == "soft":
        return model.upper() in SOFT_CLIENT_TYPES
    return model.upper() in OAUTH_DESK_MODELS or model == UNIVERSAL_TEMPLATE


def check_profile(profile: SecurityProfile) -> None:
    """R9: OAuth needs Encrypted + TLS and excludes digest and encrypted TFTP config."""
    if not profile.oauth:
        return
    if profile.security_mode != "encrypted" or profile.transport != "TLS":
        raise InvalidValue(
            "Enable OAuth Authentication requires Device Security Mode 'Encrypted' "
            "and Transport Type 'TLS'"
        )
    if profile.digest:
        raise InvalidValue("Enable Digest Authentication is not supported with OAuth")
    if profile.tftp_encrypted:
        raise InvalidValue("TFTP Encrypted Config is not supported with OAuth")


async def ensure_default_profiles(store: Store) -> list[str]:
    """Create the built-in security profiles if missing; returns the names created."""
    wanted = [
        SecurityProfile(
            name=DEFAULT_PROFILE,
            device_type=UNIVERSAL_TEMPLATE,
            security_mode="non-secure",
            transport="TCP+UDP",
            description="Default profile: no OAuth",
        ),
        SecurityProfile(
            name=OAUTH_PROFILE,
            device_type=UNIVERSAL_TEMPLATE,
            security_mode="encrypted",
            transport="TLS",
            oauth=True,
            description="Encrypted, TLS, OAuth authentication (R9)",
        ),
    ]
    created = []
    for profile in wanted:
        if await store.profiles.get(profile.name) is None:
            check_profile(profile)
            await store.profiles.add(profile)
            created.append(profile.name)
    return created


def device_type_of(name: str) -> Literal["desk", "soft"]:
    """`desk` or `soft`, from the device name; refuses names of neither form."""
    upper = name.upper()
    if _DESK_NAME.fullmatch(upper):
        return "desk"
    if _SOFT_NAME.fullmatch(upper):
        return "soft"
    raise InvalidValue(
        f"device name {name!r}: use SEP or BAT + 12 hex digits for a desk phone, "
        "or CSF/BOT/TCT/TAB + up to 12 letters or digits for a soft client"
    )


def check_profile_fits(
    profile: SecurityProfile, name: str, device_type: DeviceType, model: str
) -> None:
    """May the device ``name`` (of that type and model) use ``profile``?

    The profile is for the device's model or is a Universal Device Template
    one; an OAuth profile only for a model of R1.1 (R1.2).
    """
    if profile.device_type != UNIVERSAL_TEMPLATE and profile.device_type.upper() != model.upper():
        raise InvalidValue(
            f"security profile {profile.name!r} is for device type {profile.device_type}; "
            f"{name} is a {model}"
        )
    if profile.oauth and not oauth_capable(device_type, model):
        raise InvalidValue(
            f"model {model} cannot use a security profile with OAuth (R1.1); "
            f"supported: {', '.join(sorted(OAUTH_DESK_MODELS))} and {', '.join(SOFT_CLIENT_TYPES)}"
        )


def canonical_name(name: str) -> str:
    """A device name as stored: desk phone names upper-case, others as given."""
    upper = name.upper()
    return upper if _DESK_NAME.fullmatch(upper) else name


def check_model(name: str, device_type: DeviceType, model: str) -> str:
    """The model as stored (R1.1 models upper-case); a soft client's is its prefix."""
    if device_type == "soft":
        prefix = name[:3].upper()
        if model.upper() != prefix:
            raise InvalidValue(f"model: a {prefix} device has model {prefix}")
        return prefix
    if not _MODEL.fullmatch(model):
        raise InvalidValue(f"model {model!r}: 1-64 letters, digits, spaces, '.', '_', '+', '-'")
    return model.upper() if model.upper() in OAUTH_DESK_MODELS else model


def check_lines(lines: Sequence[str]) -> list[Line]:
    """Directory numbers → lines at positions 1, 2, …"""
    if len(lines) > DEVICE_LINES_MAX:
        raise InvalidValue(f"lines: at most {DEVICE_LINES_MAX} directory numbers per device")
    for dn in lines:
        if not _DN.fullmatch(dn):
            raise InvalidValue(f"directory number {dn!r}: digits, *, # and a leading +")
    if len(set(lines)) != len(lines):
        raise InvalidValue("lines: a directory number appears twice on the device")
    return [Line(position=i + 1, dn=dn) for i, dn in enumerate(lines)]


def check_description(description: str) -> str:
    """A description of at most DEVICE_DESCRIPTION_MAX_LENGTH characters, one line."""
    if len(description) > DEVICE_DESCRIPTION_MAX_LENGTH:
        raise InvalidValue(
            f"description: at most {DEVICE_DESCRIPTION_MAX_LENGTH} characters "
            f"(got {len(description)})"
        )
    if _CONTROL.search(description):
        raise InvalidValue("description: one line, no control characters")
    return description


async def check_device(store: Store, device: Device, *, check_owner: bool) -> None:
    """The rules on a whole device record that need the store: its profile
    exists and fits (R1.1, R1.2), the activation fields (R12.1), the MRA
    service domain and the CallManager group exist, and — with
    ``check_owner`` — the owner is an existing end user."""
    profile: SecurityProfileRecord | None = await store.profiles.get(device.profile_name)
    if profile is None:
        raise NotFound(f"profile: security profile {device.profile_name!r} does not exist")
    check_profile_fits(profile, device.name, device.device_type, device.model)
    if device.device_type == "soft" and (
        device.requires_activation_code or device.allow_activation_via_mra
    ):
        raise InvalidValue(
            "Requires Activation Code for Onboarding and Allow Activation Code via MRA are "
            "for desk phones; soft clients sign in (R1.2)"
        )
    if device.mra_service_domain is not None:
        if device.device_type == "soft":
            raise InvalidValue("Activation Code MRA Service Domain is for desk phones")
        if await store.mra_domains.get(device.mra_service_domain) is None:
            raise NotFound(
                f"Activation Code MRA Service Domain {device.mra_service_domain!r} does not exist"
            )
    if device.callmanager_group is not None:
        await check_group_name(store, device.callmanager_group)
    if check_owner and device.owner_user_id is not None:
        await check_owner_exists(store, device.owner_user_id)


async def check_owner_exists(store: Store, user_id: str) -> None:
    """The owner must be an existing end user."""
    if await store.users.get(user_id) is None:
        raise NotFound(f"owner: end user {user_id!r} does not exist")


def device_detail(device: Device, lines: Sequence[Line]) -> dict[str, JsonValue]:
    """What the audit log keeps of a device (no secret; key names avoid `code`)."""
    return {
        "model": device.model,
        "profile": device.profile_name,
        "owner": device.owner_user_id,
        "description": device.description,
        "lines": [line.dn for line in lines],
        "oauth_firmware": device.oauth_firmware,
        "requires_activation": device.requires_activation_code,
        "allow_activation_via_mra": device.allow_activation_via_mra,
        "mra_service_domain": device.mra_service_domain,
        "callmanager_group": device.callmanager_group,
    }


def prepare_device(
    *,
    name: str,
    model: str,
    lines: Sequence[str],
    profile: str = DEFAULT_PROFILE,
    owner: str | None = None,
    description: str = "",
    oauth_firmware: bool = True,
    requires_activation_code: bool = False,
    allow_activation_via_mra: bool = False,
    mra_service_domain: str | None = None,
    callmanager_group: str | None = None,
) -> tuple[Device, list[Line]]:
    """A new device and its lines from what the operator typed, after the
    rules that need no store (name, model, lines, description). A
    ``callmanager_group`` of ``Default`` (any case) is None."""
    device_type = device_type_of(name)
    name = canonical_name(name)
    device = Device(
        name=name,
        model=check_model(name, device_type, model),
        device_type=device_type,
        profile_name=profile,
        description=check_description(description),
        owner_user_id=owner,
        oauth_firmware=oauth_firmware,
        requires_activation_code=requires_activation_code,
        allow_activation_via_mra=allow_activation_via_mra,
        mra_service_domain=mra_service_domain,
        callmanager_group=device_group(callmanager_group),
    )
    return device, check_lines(lines)


async def insert_device(
    store: Store, device: Device, lines: Sequence[Line], *, check_owner: bool
) -> DeviceRecord:
    """Check ``device`` against the store, add it with its lines (one
    transaction) and audit it; the caller announces the change."""
    await check_device(store, device, check_owner=check_owner)
    if await store.devices.get(device.name) is not None:
        raise Conflict(f"device {device.name} exists already")
    try:
        record = await store.devices.add(device, lines)
    except AlreadyExists:  # added by someone else in between
        raise Conflict(f"device {device.name} exists already") from None
    await audit(store, "add", DEVICE_OBJECT, device.name, device_detail(device, lines))
    return record


async def add_device(
    store: Store,
    *,
    name: str,
    model: str,
    lines: Sequence[str],
    profile: str = DEFAULT_PROFILE,
    owner: str | None = None,
    description: str = "",
    oauth_firmware: bool = True,
    requires_activation_code: bool = False,
    allow_activation_via_mra: bool = False,
    mra_service_domain: str | None = None,
    callmanager_group: str | None = None,
) -> DeviceRecord:
    """Add a device with its lines (R1, R9, R12.1), in CallManager group
    ``callmanager_group`` (None or ``Default``: the Default group).

    The owner is not checked here (a phone may be added before its user;
    ``update_device`` and the CSV import do check it).
    """
    device, line_list = prepare_device(
        name=name,
        model=model,
        lines=lines,
        profile=profile,
        owner=owner,
        description=description,
        oauth_firmware=oauth_firmware,
        requires_activation_code=requires_activation_code,
        allow_activation_via_mra=allow_activation_via_mra,
        mra_service_domain=mra_service_domain,
        callmanager_group=callmanager_group,
    )
    record = await insert_device(store, device, line_list, check_owner=False)
    await store.notify(CONFIG_CHANNEL, f"device {device.name}")
    return record


async def delete_device(store: Store, name: str) -> None:
    """Delete a device with its lines and its pending activation code (ON
    DELETE CASCADE releases the code)."""
    name = canonical_name(name)
    if not await store.devices.delete(name):
        raise NotFound(f"device {name} does not exist")
    await audit(store, "delete", DEVICE_OBJECT, name)
    await store.notify(CONFIG_CHANNEL, f"device {name}")
