"""Reset and Apply Config reach the phone as a NOTIFY (issue 4 point 10, R9).

An administrator's Reset / Apply Config bumps the device's configuration
version and announces it on the ``devices`` channel (``admin.reset_device``).
Every node hears it; the node that holds the device's registration sends each
of its bindings an unsolicited ``NOTIFY`` with ``Event: check-sync`` down the
binding's flow — directly, or through the edge with the recorded Path as Route
(RFC 3327 §5.4) — as the reference does: the phone then fetches its
configuration again (``reboot=true`` for a reset: it also restarts). A device
registered nowhere, or whose flow is dead, is simply not reached now: it picks
the new configuration version up when it next registers and downloads its file.

The NOTIFY is a non-INVITE request on a reliable transport: no retransmission
(RFC 3261 §17.1.2.2); the phone's 200 is read and dropped by the connection.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import structlog

from sipoauth.registrar import Binding
from sipoauth.store import CATCH_UP, Store

from ._flows import FlowTable

__all__ = ["DEVICES_CHANNEL", "ResetRequest", "check_sync_headers", "parse_reset", "watch_resets"]

log = structlog.get_logger("sipoauth.node")

DEVICES_CHANNEL: Final = "devices"
_ACTIONS: Final = frozenset({"reset", "apply-config"})


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """One ``devices`` notification."""

    device: str
    action: str
    """``reset`` (the phone restarts) or ``apply-config`` (it re-reads its file)."""
    config_version: int | None


def parse_reset(payload: str) -> ResetRequest | None:
    """The notification, or None when it is not one we understand (logged, ignored)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    device, action, version = data.get("device"), data.get("action"), data.get("config_version")
    if not isinstance(device, str) or not device or action not in _ACTIONS:
        return None
    return ResetRequest(device, str(action), version if isinstance(version, int) else None)


def check_sync_headers(
    binding: Binding, reset: ResetRequest, *, hostname: str, via_host: str
) -> list[tuple[str, str]]:
    """Headers of the NOTIFY for one binding (RFC 3261 §8.1.1, RFC 6665 §8.2.1)."""
    tag = secrets.token_hex(6)
    branch = "z9hG4bK" + secrets.token_hex(10)
    reboot = "true" if reset.action == "reset" else "false"
    return [
        ("Via", f"SIP/2.0/TLS {via_host};branch={branch}"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:{hostname}>;tag={tag}"),
        ("To", f"<{binding.aor}>"),
        ("Call-ID", f"{secrets.token_hex(12)}@{hostname}"),
        ("CSeq", "1 NOTIFY"),
        ("Event", f"check-sync;reboot={reboot}"),
        ("Subscription-State", "terminated;reason=noresource"),
        ("Content-Length", "0"),
    ]


def send_check_sync(
    bindings: Iterable[Binding],
    reset: ResetRequest,
    flows: FlowTable,
    *,
    hostname: str,
) -> tuple[int, int]:
    """Send the NOTIFY to every binding of the device: (sent, flows dead)."""
    sent = dead = 0
    for binding in bindings:
        if binding.device != reset.device:
            continue
        headers = check_sync_headers(binding, reset, hostname=hostname, via_host=hostname)
        if flows.send_to_binding(binding, "NOTIFY", headers):
            sent += 1
        else:
            dead += 1
    return sent, dead


async def watch_resets(
    store: Store,
    bindings: Callable[[], Sequence[Binding]],
    flows: FlowTable,
    *,
    hostname: str,
    before_notify: Callable[[ResetRequest], None] | None = None,
) -> None:
    """Listen on ``devices`` and NOTIFY the devices this node holds;
    ``before_notify`` runs first (the TFTP service forgets the device's file, so
    the phone that the NOTIFY sends to fetch it gets the new version)."""
    async with store.listen(DEVICES_CHANNEL) as notes:
        async for payload in notes:
            if payload == CATCH_UP:
                # Resets sent while this node was not listening are not known: a
                # phone held here picks its new version up at its next download.
                log.warning("resets may have been missed while not listening")
                continue
            reset = parse_reset(payload)
            if reset is None:
                log.warning("devices notification not understood", payload=payload[:200])
                continue
            if before_notify is not None:
                before_notify(reset)
            sent, dead = send_check_sync(bindings(), reset, flows, hostname=hostname)
            if sent or dead:
                log.info(
                    "check-sync sent",
                    device=reset.device,
                    action=reset.action,
                    config_version=reset.config_version,
                    sent=sent,
                    dead_flows=dead,
                )
