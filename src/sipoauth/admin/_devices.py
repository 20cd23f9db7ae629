"""Devices, their security profiles and lines (R1, R9), as the registrar needs them.

Rules enforced here, once, for every adapter (CLI, REST, pages):
- R1.1: only the listed models may have an OAuth-enabled profile;
- R9: an OAuth profile is Encrypted + TLS, without digest and encrypted TFTP config;
- device names: `SEP` + 12 hex digits (or `BAT` + 12 hex before activation) for
  desk phones, `CSF`/`BOT`/`TCT`/`TAB` + a user-ish name for soft clients.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Literal

from sipoauth.store import Device, Line, SecurityProfile, SecurityProfileRecord, Store

from ._errors import Conflict, InvalidValue, NotFound

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
) -> None:
    """Add a device with its lines (R1, R9)."""
    device_type = device_type_of(name)
    name = name.upper() if device_type == "desk" else name
    if device_type == "soft" and model.upper() != name[:3].upper():
        raise InvalidValue(f"a {name[:3].upper()} device has model {name[:3].upper()}")
    for dn in lines:
        if not _DN.fullmatch(dn):
            raise InvalidValue(f"directory number {dn!r}: digits, *, # and a leading +")
    if len(set(lines)) != len(lines):
        raise InvalidValue("a directory number appears twice on the device")
    record: SecurityProfileRecord | None = await store.profiles.get(profile)
    if record is None:
        raise NotFound(f"security profile {profile!r} does not exist")
    if record.oauth and not oauth_capable(device_type, model):
        raise InvalidValue(
            f"model {model} cannot use a security profile with OAuth (R1.1); "
            f"supported: {', '.join(sorted(OAUTH_DESK_MODELS))} and {', '.join(SOFT_CLIENT_TYPES)}"
        )
    if await store.devices.get(name) is not None:
        raise Conflict(f"device {name} exists already")
    await store.devices.add(
        Device(
            name=name,
            model=model,
            device_type=device_type,
            profile_name=profile,
            description=description,
            owner_user_id=owner,
            oauth_firmware=oauth_firmware,
        ),
        [Line(position=i + 1, dn=dn) for i, dn in enumerate(lines)],
    )
    await store.notify("config", f"device {name}")


async def delete_device(store: Store, name: str) -> None:
    if not await store.devices.delete(name):
        raise NotFound(f"device {name} does not exist")
    await store.notify("config", f"device {name}")
