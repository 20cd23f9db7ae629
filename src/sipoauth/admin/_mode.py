"""R7/R8: `utils sipOAuth-mode enable|disable|status` on the publisher, restart pending.

Enabling needs the cluster registered for licensing with export-controlled
functionality allowed (R2.2, `_licensing.py`). The flag is cluster-wide; each
node's CallManager applies it when it (re)starts (R8), so setting it marks
every node's CallManager "restart pending", and `status` shows per node
whether its running CallManager applied the flag in force.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipoauth.store import JsonValue, NodeRole, ServiceState, Store

from . import _settings as keys
from ._audit import audit
from ._errors import Conflict, InvalidValue
from ._keys import require_publisher
from ._licensing import license_status

__all__ = [
    "CHALLENGE_STYLES",
    "ModeStatus",
    "NodeModeStatus",
    "challenge_style",
    "set_challenge_style",
    "set_sip_oauth_mode",
    "sip_oauth_mode",
    "sip_oauth_mode_status",
]


async def set_sip_oauth_mode(store: Store, *, node_name: str, enabled: bool) -> list[str]:
    """Set the cluster-wide SIP OAuth mode flag from the publisher (R7).

    Enabling is refused unless export-controlled functionality is allowed
    (R2.2). Every node's CallManager service is then "restart pending" (R8):
    the change takes effect when the service restarts. Returns the node names.
    """
    await require_publisher(store, node_name, "utils sipOAuth-mode")
    licence = await license_status(store)
    if enabled and not (licence.registration == "registered" and licence.export_controlled_allowed):
        raise Conflict(
            "SIP OAuth mode needs the cluster registered for licensing with "
            "export-controlled functionality allowed (R2.2); run: sipoauth license register "
            "--virtual-account <account> --allow-export-controlled "
            "(or, when registered already: sipoauth license allow-export-controlled on)"
        )
    await store.settings.set(keys.SIP_OAUTH_MODE, enabled)
    await store.node_services.mark_restart_pending(None, ["callmanager"])
    names = [each.name for each in await store.nodes.list()]
    pending: list[JsonValue] = [*names]
    await audit(
        store,
        "enable" if enabled else "disable",
        "sip-oauth-mode",
        "cluster",
        {"old": licence.sip_oauth_mode, "new": enabled, "restart_pending": pending},
    )
    await store.notify("config", "sip-oauth-mode")
    return names


async def sip_oauth_mode(store: Store) -> bool:
    """The cluster-wide flag."""
    return bool(await store.settings.get(keys.SIP_OAUTH_MODE, False))


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeModeStatus:
    """One node's CallManager and the mode (R8)."""

    node_name: str
    role: NodeRole
    state: ServiceState
    """The CallManager's state as the node last reported it (`unknown` before)."""
    running_mode: bool | None
    """The mode the running CallManager applied; None when not running or unknown."""
    applied: bool
    """The running CallManager applied the flag in force."""
    restart_pending: bool
    """A change waits for a CallManager restart."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeStatus:
    """`utils sipOAuth-mode status`: the flag, and per node whether it is applied."""

    enabled: bool
    """The cluster-wide flag."""
    nodes: tuple[NodeModeStatus, ...]
    """Every node, the publisher first."""


async def sip_oauth_mode_status(store: Store) -> ModeStatus:
    """The flag and, per node, whether its running CallManager applied it."""
    enabled = await sip_oauth_mode(store)
    services = {
        s.node_name: s for s in await store.node_services.list() if s.service == "callmanager"
    }
    nodes = []
    for node in await store.nodes.list():
        service = services.get(node.name)
        state: ServiceState = "unknown" if service is None else service.state
        mode = None if service is None else service.applied.get("sip_oauth_mode")
        running_mode = mode if state == "running" and isinstance(mode, bool) else None
        nodes.append(
            NodeModeStatus(
                node_name=node.name,
                role=node.role,
                state=state,
                running_mode=running_mode,
                applied=running_mode is enabled,
                restart_pending=service is not None and service.restart_pending,
            )
        )
    return ModeStatus(enabled=enabled, nodes=tuple(nodes))


CHALLENGE_STYLES = ("rfc8898", "proxy")
"""`rfc8898`: 401 + WWW-Authenticate (RFC 8898); `proxy`: 407 + Proxy-Authenticate,
the form deployed phones of the reference system expect."""


async def set_challenge_style(store: Store, style: str) -> None:
    """How the registrar challenges a REGISTER without credentials (cluster-wide)."""
    if style not in CHALLENGE_STYLES:
        raise InvalidValue(
            f"challenge style {style!r}: choose one of {', '.join(CHALLENGE_STYLES)}"
        )
    old = await challenge_style(store)
    await store.settings.set(keys.CHALLENGE_STYLE, style)
    await audit(store, "set", "sip-challenge-style", "cluster", {"old": old, "new": style})
    await store.notify("config", "sip-challenge-style")


async def challenge_style(store: Store) -> str:
    """The cluster's challenge style (`rfc8898` or `proxy`)."""
    return str(await store.settings.get(keys.CHALLENGE_STYLE, keys.DEFAULTS[keys.CHALLENGE_STYLE]))
