"""The audit log (issue 4 point 12): who, when, what, from which interface."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from sipoauth import admin
from sipoauth.admin import Actor, acting_as, current_actor
from sipoauth.node._identity import sync_identity
from sipoauth.store import AuditRecord, Node, Store, new_secret


def test_actor_defaults_to_system_and_nests() -> None:
    assert current_actor() == Actor("system", "system")
    with acting_as(Actor("alice", "cli")) as actor:
        assert actor == current_actor() == Actor("alice", "cli")
        with acting_as(Actor("bob", "api")):
            assert current_actor() == Actor("bob", "api")
        assert current_actor() == Actor("alice", "cli")
    assert current_actor() == Actor("system", "system")


async def test_concurrent_tasks_keep_their_own_actor() -> None:
    async def who(name: str) -> str:
        with acting_as(Actor(name, "api")):
            await asyncio.sleep(0)
            return current_actor().name

    assert await asyncio.gather(who("a"), who("b")) == ["a", "b"]


async def test_audit_writes_the_current_actor(store: Store) -> None:
    await admin.audit(store, "update", "parameter", "x", {"new": 1})
    with acting_as(Actor("alice", "web")):
        await admin.audit(store, "delete", "server", "sub1")
    rows = await admin.list_audit(store)
    assert [(r.actor, r.interface, r.action, r.object_id) for r in rows] == [
        ("alice", "web", "delete", "sub1"),
        ("system", "system", "update", "x"),
    ]
    assert rows[1].detail == {"new": 1}
    assert [r.object_id for r in await admin.list_audit(store, actor="alice")] == ["sub1"]


@pytest.mark.parametrize(
    "detail",
    [
        {"password": "x"},
        {"Code": "1234"},
        {"token": "t"},
        {"key": "k"},
        {"secret": "s"},
        {"new_password": "x"},
        {"activation_code": "1"},
        {"refresh-token": "r"},
        {"private.key": "k"},
        {"nested": {"secret": "s"}},
        {"items": [{"token": "t"}]},
    ],
)
async def test_audit_refuses_secrets(store: Store, detail: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="secret"):
        await admin.audit(store, "update", "x", "y", detail)  # type: ignore[arg-type]
    assert await admin.list_audit(store) == []


async def test_audit_allows_named_safe_fields(store: Store) -> None:
    await admin.audit(store, "regenerate", "key", "signing", {"kid": "k1", "key_hash": "ab"})
    assert len(await admin.list_audit(store)) == 1


# -- every change function of this module set writes one row, as the actor -------------

ACTOR = Actor("alice", "api")
SECRET_WORDS = ("-----BEGIN", "PRIVATE KEY", "password")


async def _rows_of(store: Store, change: Callable[[], Awaitable[object]]) -> list[AuditRecord]:
    before = {r.id for r in await admin.list_audit(store, limit=10_000)}
    with acting_as(ACTOR):
        await change()
    return [r for r in await admin.list_audit(store, limit=10_000) if r.id not in before]


async def test_each_change_writes_one_row_as_the_actor(store: Store, tmp_path: Path) -> None:
    await store.nodes.upsert(Node(name="pub", host="localhost"))
    for kind in ("signing", "encryption"):
        await store.keys.add(admin.new_authz_key(kind))  # type: ignore[arg-type]
    await store.unlock(new_secret(), create=True)
    await sync_identity(
        store, tmp_path / "pki", node_name="pub", hostname="localhost", now=datetime.now(UTC)
    )
    ca = trustme.CA()
    changes = [
        lambda: admin.set_parameter(store, "SIP Realm Station", "example"),
        lambda: admin.reset_parameter(store, "SIP Realm Station"),
        lambda: admin.set_challenge_style(store, "proxy"),
        lambda: admin.regenerate_authz_key(store, "signing", node_name="pub"),
        lambda: admin.add_server(store, "sub", "sub.example.com"),
        lambda: admin.set_server_ports(store, "sub", oauth_port=6090),
        lambda: admin.delete_server(store, "sub", node_name="pub"),
        lambda: admin.register_license(
            store, virtual_account="Voice", allow_export_controlled=False, node_name="pub"
        ),
        lambda: admin.set_export_controlled(store, True, node_name="pub"),
        lambda: admin.set_sip_oauth_mode(store, node_name="pub", enabled=True),
        lambda: admin.set_sip_oauth_mode(store, node_name="pub", enabled=False),
        lambda: admin.deregister_license(store, node_name="pub"),
        lambda: admin.upload_trust(store, "tomcat-trust", ca.cert_pem.bytes()),
        lambda: admin.add_mra_domain(store, "Corp", ["mra.example.com"]),
        lambda: admin.update_mra_domain(store, "Corp", is_default=True),
        lambda: admin.delete_mra_domain(store, "Corp"),
        lambda: admin.regenerate_tomcat(store, node_name="pub"),
    ]
    for change in changes:
        rows = await _rows_of(store, change)
        assert len(rows) == 1, rows
        assert (rows[0].actor, rows[0].interface) == ("alice", "api")
        text = json.dumps(rows[0].detail)
        assert not any(word in text for word in SECRET_WORDS), text
        for key in await store.keys.active("authz-signing"):
            assert key.material.splitlines()[1] not in text
    fingerprint = (await admin.list_certificates(store, "tomcat-trust"))[0].fingerprint
    rows = await _rows_of(
        store, lambda: admin.delete_certificate(store, "tomcat-trust", fingerprint)
    )
    assert [(r.action, r.object_id) for r in rows] == [("delete", "tomcat-trust")]
    leaf = ca.issue_cert("localhost")
    rows = await _rows_of(
        store,
        lambda: admin.upload_tomcat(
            store,
            node_name="pub",
            cert_pem=leaf.cert_chain_pems[0].bytes(),
            key_pem=leaf.private_key_pem.bytes(),
            chain_pem=ca.cert_pem.bytes(),
        ),
    )
    assert [(r.action, r.object_id) for r in rows] == [("upload", "tomcat")]
    assert "PRIVATE" not in json.dumps(rows[0].detail)


async def test_a_refused_change_writes_no_row(store: Store) -> None:
    await store.nodes.upsert(Node(name="pub", host="localhost"))
    with pytest.raises(admin.Conflict):
        await admin.set_sip_oauth_mode(store, node_name="pub", enabled=True)
    with pytest.raises(admin.InvalidValue):
        await admin.set_parameter(store, "SIP Realm Station", '"bad"')
    assert await admin.list_audit(store) == []


async def test_list_limit_is_checked(store: Store) -> None:
    for limit in (0, admin.AUDIT_LIST_MAX + 1):
        with pytest.raises(admin.InvalidValue, match="limit"):
            await admin.list_audit(store, limit=limit)


async def test_end_users_and_activation_codes_are_audited(store: Store) -> None:
    """Issue 4 point 12 for points 9 and 10: users and activation codes, never a
    password or a code in the row."""
    await admin.ensure_default_profiles(store)
    await admin.add_device(store, name="SEP0011223344AA", model="8851", lines=["4711"])
    now = datetime.now(UTC)
    with acting_as(Actor("ops", "api")):
        await admin.add_user(store, "auditee", password="long enough pw")
        await admin.set_user_password(store, "auditee", "another long pw")
        await admin.set_user_active(store, "auditee", False, now=now)
        await admin.delete_user(store, "auditee", now=now)
        code, _ = await admin.generate_activation_code(store, "SEP0011223344AA", now=now)
        await admin.release_activation_code(store, "SEP0011223344AA")
    rows = await admin.list_audit(store, actor="ops")
    seen = sorted((r.action, r.object_type, r.object_id) for r in rows)
    assert seen == sorted(
        [
            ("add", "user", "auditee"),
            ("set-password", "user", "auditee"),
            ("deactivate", "user", "auditee"),
            ("deactivate", "user", "auditee"),  # delete_user deactivates first
            ("delete", "user", "auditee"),
            ("generate-activation-code", "device", "SEP0011223344AA"),
            ("release-activation-code", "device", "SEP0011223344AA"),
        ]
    )
    text = json.dumps([r.detail for r in rows])
    assert code not in text and "long enough" not in text and "another long" not in text
    assert all(r.interface == "api" for r in rows)
