"""Smart licensing and "Allow export-controlled functionality" (R2.2).

R2.2: the cluster is registered for licensing with export-controlled
functionality allowed; SIP OAuth mode cannot be enabled otherwise. The
registration is a cluster-wide state in settings (`_settings.py`):

- `evaluation`: a new cluster, never registered (the reference's fresh
  install runs in evaluation mode). Export-controlled functionality cannot be
  allowed: only a registered product instance may (the reference offers the
  checkbox in the registration dialog).
- `registered`: registered to a virtual account, the publisher's server name
  being the product instance name; export-controlled functionality may be
  allowed (at registration or later) and disallowed.
- `unregistered`: deregistered; the evaluation period does not come back.

Nothing is sent anywhere: this product has no licensing server, the state is
what an operator of the reference system goes through and what the mode
checks. The commands run on the publisher only, like the reference's
`license smart …` commands. While SIP OAuth mode is enabled, the cluster can
neither be deregistered nor have export-controlled functionality turned off:
disable the mode first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from sipoauth.store import JsonValue, Store

from . import _settings as keys
from ._audit import audit
from ._errors import Conflict, InvalidValue
from ._keys import require_publisher

__all__ = [
    "LICENSE_STATES",
    "VIRTUAL_ACCOUNT_MAX_LENGTH",
    "LicenseState",
    "LicenseStatus",
    "deregister_license",
    "license_status",
    "register_license",
    "set_export_controlled",
]

LicenseState = Literal["evaluation", "registered", "unregistered"]
"""Smart-licensing registration state of the cluster (module docstring)."""
LICENSE_STATES: Final[tuple[LicenseState, ...]] = ("evaluation", "registered", "unregistered")
VIRTUAL_ACCOUNT_MAX_LENGTH: Final = 128
"""Characters of a virtual account name at most."""

_OBJECT: Final = "license"
_MODE_ON: Final = (
    "SIP OAuth mode is enabled: disable it first (sipoauth utils sipOAuth-mode disable)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseStatus:
    """What `license status` shows."""

    registration: LicenseState
    """`evaluation`, `registered` or `unregistered`."""
    virtual_account: str
    """The virtual account registered to ("" when not registered)."""
    product_instance: str
    """The product instance name (the publisher's server name; "" when not registered)."""
    registered_at: datetime | None
    """When it was registered (None when not)."""
    export_controlled_allowed: bool
    """Allow export-controlled functionality (R2.2)."""
    sip_oauth_mode: bool
    """The cluster-wide SIP OAuth mode flag, which depends on it."""


_KEYS: Final = (
    keys.LICENSE_REGISTRATION,
    keys.LICENSE_VIRTUAL_ACCOUNT,
    keys.LICENSE_PRODUCT_INSTANCE,
    keys.LICENSE_REGISTERED_AT,
    keys.EXPORT_CONTROLLED_ALLOWED,
    keys.SIP_OAUTH_MODE,
)


async def license_status(store: Store) -> LicenseStatus:
    """The registration state, its account and the export-controlled flag."""
    values = {**keys.DEFAULTS, **await store.settings.get_many(_KEYS)}
    state = values[keys.LICENSE_REGISTRATION]
    registered_at = values[keys.LICENSE_REGISTERED_AT]
    return LicenseStatus(
        registration=state if state in LICENSE_STATES else "unregistered",
        virtual_account=str(values[keys.LICENSE_VIRTUAL_ACCOUNT]),
        product_instance=str(values[keys.LICENSE_PRODUCT_INSTANCE]),
        registered_at=(
            datetime.fromisoformat(registered_at) if isinstance(registered_at, str) else None
        ),
        export_controlled_allowed=values[keys.EXPORT_CONTROLLED_ALLOWED] is True,
        sip_oauth_mode=values[keys.SIP_OAUTH_MODE] is True,
    )


def _virtual_account(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= VIRTUAL_ACCOUNT_MAX_LENGTH:
        raise InvalidValue(f"virtual account: 1-{VIRTUAL_ACCOUNT_MAX_LENGTH} characters")
    if not name.isprintable():
        raise InvalidValue("virtual account: printable characters only")
    return name


async def register_license(
    store: Store,
    *,
    virtual_account: str,
    allow_export_controlled: bool,
    node_name: str,
    now: datetime | None = None,
) -> LicenseStatus:
    """Register the cluster to `virtual_account` (publisher only), allowing
    export-controlled functionality or not. Registering again replaces the
    account; it cannot turn export-controlled functionality off while SIP
    OAuth mode is enabled."""
    account = _virtual_account(virtual_account)
    await require_publisher(store, node_name, "license smart register")
    before = await license_status(store)
    if before.sip_oauth_mode and not allow_export_controlled:
        raise Conflict(f"export-controlled functionality must stay allowed: {_MODE_ON}")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    values: dict[str, JsonValue] = {
        keys.LICENSE_REGISTRATION: "registered",
        keys.LICENSE_VIRTUAL_ACCOUNT: account,
        keys.LICENSE_PRODUCT_INSTANCE: node_name,
        keys.LICENSE_REGISTERED_AT: at.isoformat(),
        keys.EXPORT_CONTROLLED_ALLOWED: allow_export_controlled,
    }
    await store.settings.set_many(values)
    await audit(
        store,
        "register",
        _OBJECT,
        "smart-licensing",
        {
            "virtual_account": account,
            "product_instance": node_name,
            "export_controlled_allowed": allow_export_controlled,
            "previous_registration": before.registration,
        },
    )
    await store.notify("config", "licensing")
    return await license_status(store)


async def deregister_license(store: Store, *, node_name: str) -> LicenseStatus:
    """Deregister the cluster (publisher only); export-controlled functionality
    goes with it. Refused while SIP OAuth mode is enabled (R2.2)."""
    await require_publisher(store, node_name, "license smart deregister")
    before = await license_status(store)
    if before.sip_oauth_mode:
        raise Conflict(f"cannot deregister: {_MODE_ON}")
    if before.registration != "registered":
        raise Conflict(f"the cluster is not registered (state: {before.registration})")
    await store.settings.set_many(
        {
            keys.LICENSE_REGISTRATION: "unregistered",
            keys.LICENSE_VIRTUAL_ACCOUNT: "",
            keys.LICENSE_PRODUCT_INSTANCE: "",
            keys.LICENSE_REGISTERED_AT: None,
            keys.EXPORT_CONTROLLED_ALLOWED: False,
        }
    )
    await audit(
        store,
        "deregister",
        _OBJECT,
        "smart-licensing",
        {"virtual_account": before.virtual_account},
    )
    await store.notify("config", "licensing")
    return await license_status(store)


async def set_export_controlled(store: Store, allowed: bool, *, node_name: str) -> LicenseStatus:
    """Allow or disallow export-controlled functionality (publisher only).

    Allowing needs a registered cluster; disallowing is refused while SIP
    OAuth mode is enabled (R2.2).
    """
    await require_publisher(store, node_name, "license smart export-controlled")
    before = await license_status(store)
    if allowed and before.registration != "registered":
        raise Conflict(
            "export-controlled functionality can only be allowed on a registered cluster: "
            "sipoauth license register --virtual-account <account> --allow-export-controlled"
        )
    if not allowed and before.sip_oauth_mode:
        raise Conflict(f"cannot disallow export-controlled functionality: {_MODE_ON}")
    if before.export_controlled_allowed != allowed:
        await store.settings.set(keys.EXPORT_CONTROLLED_ALLOWED, allowed)
        await audit(
            store,
            "allow" if allowed else "disallow",
            _OBJECT,
            "export-controlled-functionality",
            {"old": before.export_controlled_allowed, "new": allowed},
        )
        await store.notify("config", "licensing")
    return await license_status(store)
