"""What a refused administrative action must leave as it was."""

from __future__ import annotations

from typing import Any

from sipoauth.store import Store


async def snapshot(store: Store) -> dict[str, Any]:
    """Everything the rules of servers, licensing, mode, certificates, MRA
    domains and CallManager groups write: compare before and after a refusal."""
    return {
        "settings": await store.settings.get_many(),
        "nodes": await store.nodes.list(),
        "node_services": await store.node_services.list(),
        "trusted_certs": {
            name: await store.trusted_certs.list(name)
            for name in ("tomcat-trust", "phone-edge-trust", "callmanager-trust")
        },
        "mra_domains": await store.mra_domains.list(),
        "callmanager_groups": await store.callmanager_groups.list(),
        "devices": await store.devices.list(),
        "audit": await store.audit.list(limit=10_000),
    }
