"""The daily purge (issue 3 point 3; REFERENCE-BEHAVIOUR "Expired refresh tokens
are purged daily"): the node's job forgets expired refresh tokens, authorization
codes and activation codes, and keeps live ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sipoauth.node import Node
from sipoauth.oauth import hash_secret
from sipoauth.store import ActivationCode, AuthorizationCode, RefreshToken

from ._support import PHONE, Prepared, start_node


async def _seed(node: Node, tag: str, expires_at: datetime) -> None:
    store = node.store
    sid = f"purge-{tag}"
    await store.grants.create(sid, "jdoe", "sipoauth-csf", user_id="jdoe")
    await store.refresh_tokens.add(
        RefreshToken(
            token_hash=hash_secret(f"refresh-{tag}"),
            sid=sid,
            client_id="sipoauth-csf",
            subject="jdoe",
            scope="sip:register",
            expires_at=expires_at,
        )
    )
    await store.authorization_codes.add(
        AuthorizationCode(
            code_hash=hash_secret(f"code-{tag}"),
            client_id="sipoauth-csf",
            redirect_uri="http://127.0.0.1/callback",
            user_id="jdoe",
            scope="sip:register",
            code_challenge="x" * 43,
            code_challenge_method="S256",
            via_mra=False,
            auth_time=expires_at - timedelta(seconds=60),
            expires_at=expires_at,
        )
    )


async def test_purge_forgets_expired_and_keeps_live(prepared: Prepared, node: Node) -> None:
    now = datetime.now(UTC)
    await _seed(node, "old", now - timedelta(days=1))
    await _seed(node, "live", now + timedelta(days=1))
    await node.store.activation_codes.put(
        ActivationCode(
            device_name=PHONE, code_hash=hash_secret("act-old"), model="8851",
            expires_at=now - timedelta(hours=1),
        )
    )  # fmt: skip
    assert node.authz is not None
    purged = await node.authz.purge()
    assert purged == {"refresh_tokens": 1, "authorization_codes": 1, "activation_codes": 1}
    store = node.store
    assert await store.refresh_tokens.get(hash_secret("refresh-old")) is None
    assert await store.refresh_tokens.get(hash_secret("refresh-live")) is not None
    assert await store.authorization_codes.get(hash_secret("code-old")) is None
    assert await store.authorization_codes.get(hash_secret("code-live")) is not None
    assert await store.activation_codes.get(PHONE) is None


async def test_the_node_runs_the_purge_on_its_own(prepared: Prepared) -> None:
    """The job runs when the node starts and then every ``purge_interval``."""
    node = await start_node(prepared, purge_interval=0.2)
    try:
        await _seed(node, "job", datetime.now(UTC) - timedelta(minutes=5))
        async with asyncio.timeout(10):
            while await node.store.refresh_tokens.get(hash_secret("refresh-job")) is not None:
                await asyncio.sleep(0.1)
    finally:
        await node.close()
