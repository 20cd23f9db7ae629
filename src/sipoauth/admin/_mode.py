"""R7/R8: `utils sipOAuth-mode enable|disable` on the publisher, restart pending."""

from __future__ import annotations

from sipoauth.store import Store

from . import _settings as keys
from ._errors import InvalidValue, NotFound, NotPublisher


async def set_sip_oauth_mode(store: Store, *, node_name: str, enabled: bool) -> list[str]:
    """Set the cluster-wide SIP OAuth mode flag from the publisher (R7).

    Every node's CallManager service is then "restart pending" (R8): the
    change takes effect when the service restarts. Returns the node names.
    """
    node = await store.nodes.get(node_name)
    if node is None:
        raise NotFound(f"server {node_name!r} is not configured")
    if node.role != "publisher":
        raise NotPublisher(
            f"utils sipOAuth-mode can only be run on the publisher; {node_name} is a subscriber"
        )
    await store.settings.set(keys.SIP_OAUTH_MODE, enabled)
    await store.node_services.mark_restart_pending(None, ["callmanager"])
    names = [each.name for each in await store.nodes.list()]
    await store.notify("config", "sip-oauth-mode")
    return names


async def sip_oauth_mode(store: Store) -> bool:
    """The cluster-wide flag."""
    return bool(await store.settings.get(keys.SIP_OAUTH_MODE, False))


CHALLENGE_STYLES = ("rfc8898", "proxy")
"""`rfc8898`: 401 + WWW-Authenticate (RFC 8898); `proxy`: 407 + Proxy-Authenticate,
the form deployed phones of the reference system expect."""


async def set_challenge_style(store: Store, style: str) -> None:
    """How the registrar challenges a REGISTER without credentials (cluster-wide)."""
    if style not in CHALLENGE_STYLES:
        raise InvalidValue(
            f"challenge style {style!r}: choose one of {', '.join(CHALLENGE_STYLES)}"
        )
    await store.settings.set(keys.CHALLENGE_STYLE, style)
    await store.notify("config", "sip-challenge-style")


async def challenge_style(store: Store) -> str:
    return str(await store.settings.get(keys.CHALLENGE_STYLE, keys.DEFAULTS[keys.CHALLENGE_STYLE]))
