"""Servers and their ports (issue 4 point 2, R5): ranges, clashes, one publisher,
restart pending per service (R8), deletion rules; a refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from sipoauth import admin
from sipoauth.store import Store

from ._state import snapshot

PUB = "cucm-pub"
SUB = "cucm-sub1"


async def _cluster(store: Store) -> None:
    await admin.add_server(store, PUB, "10.0.0.1", "publisher")
    await admin.add_server(store, SUB, "cucm-sub1.example.com")


async def _pending(store: Store, node: str) -> dict[str, bool]:
    return {s.service: s.restart_pending for s in await store.node_services.list(node)}


async def test_add_list_get_with_defaults(store: Store) -> None:
    await _cluster(store)
    servers = await admin.list_servers(store)
    assert [(s.name, s.role) for s in servers] == [(PUB, "publisher"), (SUB, "subscriber")]
    sub = await admin.get_server(store, SUB)
    ports = (sub.sip_port, sub.secure_sip_port, sub.oauth_port, sub.mra_port)
    assert ports == (5060, 5061, 5090, 5091)
    assert (sub.web_port, sub.tftp_port, sub.tftp_secure_port) == (8443, 6970, 6971)
    assert sub.host == "cucm-sub1.example.com"
    with pytest.raises(admin.NotFound, match="'nope' is not configured"):
        await admin.get_server(store, "nope")


async def test_add_with_ports_and_ip_host(store: Store) -> None:
    node = await admin.add_server(
        store, PUB, "2001:db8::1", "publisher", oauth_port=6090, mra_port=6091
    )
    assert (node.host, node.oauth_port, node.mra_port) == ("2001:db8::1", 6090, 6091)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((SUB, "h2"), {}, admin.Conflict, "no publisher yet"),
        (("bad name!", "h"), {"role": "publisher"}, admin.InvalidValue, "server name"),
        ((PUB, "bad_host!"), {"role": "publisher"}, admin.InvalidValue, "host"),
        ((PUB, "h"), {"role": "boss"}, admin.InvalidValue, "publisher or subscriber"),
        (
            (PUB, "h"),
            {"role": "publisher", "oauth_port": 80},
            admin.InvalidValue,
            "SIP Phone OAuth Port 80 is out of range: 1024-49151",
        ),
        (
            (PUB, "h"),
            {"role": "publisher", "mra_port": 49152},
            admin.InvalidValue,
            "SIP Mobile and Remote Access Port 49152 is out of range: 1024-49151",
        ),
        (
            (PUB, "h"),
            {"role": "publisher", "mra_port": 5090},
            admin.InvalidValue,
            "SIP Phone OAuth Port and SIP Mobile and Remote Access Port are both 5090",
        ),
    ],
)
async def test_add_refusals_change_nothing(
    store: Store, args: tuple[str, str], kwargs: dict[str, Any], error: type, message: str
) -> None:
    before = await snapshot(store)
    with pytest.raises(error, match=message):
        await admin.add_server(store, *args, **kwargs)
    assert await snapshot(store) == before


async def test_one_publisher_and_unique_names(store: Store) -> None:
    await _cluster(store)
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match=f"has a publisher already \\({PUB}\\)"):
        await admin.add_server(store, "pub2", "h3", "publisher")
    with pytest.raises(admin.Conflict, match="exists already"):
        await admin.add_server(store, SUB, "other-host")
    assert await snapshot(store) == before


async def test_set_ports_marks_the_right_services(store: Store) -> None:
    await _cluster(store)
    node = await admin.set_server_ports(store, SUB, oauth_port=6090, mra_port=6091)
    assert (node.oauth_port, node.mra_port) == (6090, 6091)
    assert await _pending(store, SUB) == {"callmanager": True}
    assert await _pending(store, PUB) == {}
    await admin.set_server_ports(store, SUB, web_port=9443)
    assert await _pending(store, SUB) == {"callmanager": True, "tomcat": True}
    await admin.set_server_ports(store, SUB, tftp_secure_port=7971)
    assert await _pending(store, SUB) == {"callmanager": True, "tomcat": True, "tftp": True}
    await admin.set_server_ports(store, PUB, tftp_port=7970)
    assert await _pending(store, PUB) == {"tftp": True}


async def test_issuer_follows_the_publishers_web_port(store: Store) -> None:
    """RFC 8414 §3: the metadata lives under the issuer, so the issuer derived at
    initialisation follows the publisher's web port; a subscriber's port, or an
    issuer set otherwise, leaves it alone."""
    await _cluster(store)
    issuer = "cluster.issuer"
    await store.settings.set(issuer, "https://10.0.0.1:8443")
    await admin.set_server_ports(store, SUB, web_port=9443)
    assert (await store.settings.get_many([issuer]))[issuer] == "https://10.0.0.1:8443"
    await admin.set_server_ports(store, PUB, web_port=9443)
    assert (await store.settings.get_many([issuer]))[issuer] == "https://10.0.0.1:9443"
    row = (await admin.list_audit(store, object_type="server"))[0]
    assert row.detail["issuer"] == {"old": "https://10.0.0.1:8443", "new": "https://10.0.0.1:9443"}
    await store.settings.set(issuer, "https://sso.example.com")
    await admin.set_server_ports(store, PUB, web_port=10443)
    assert (await store.settings.get_many([issuer]))[issuer] == "https://sso.example.com"


async def test_set_ports_unchanged_is_a_no_op(store: Store) -> None:
    await _cluster(store)
    before = await snapshot(store)
    node = await admin.set_server_ports(store, SUB, oauth_port=5090)
    assert node.oauth_port == 5090
    assert await snapshot(store) == before


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ({"oauth_port": 1023}, "SIP Phone OAuth Port 1023 is out of range: 1024-49151"),
        ({"sip_port": 65000}, "SIP Phone Port 65000 is out of range: 1024-49151"),
        ({"mra_port": 5090}, "SIP Phone OAuth Port and SIP Mobile and Remote Access Port"),
        ({"web_port": 5060}, "SIP Phone Port and HTTPS Port are both 5060"),
        ({"oauth_port": 6000, "mra_port": 6000}, "are both 6000"),
        ({"oauth_port": True}, "SIP Phone OAuth Port must be a whole number"),
        ({"ssh_port": 2222}, "unknown port field"),
    ],
)
async def test_set_ports_refusals_change_nothing(
    store: Store, ports: dict[str, Any], message: str
) -> None:
    await _cluster(store)
    before = await snapshot(store)
    with pytest.raises(admin.InvalidValue, match=message):
        await admin.set_server_ports(store, SUB, **ports)
    assert await snapshot(store) == before


async def test_set_ports_of_unknown_server(store: Store) -> None:
    with pytest.raises(admin.NotFound):
        await admin.set_server_ports(store, "ghost", oauth_port=6090)


async def test_delete_rules(store: Store) -> None:
    await _cluster(store)
    await admin.add_server(store, "cucm-sub2", "h3")
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match="is the publisher"):
        await admin.delete_server(store, PUB, node_name=SUB)
    with pytest.raises(admin.Conflict, match="this command runs on"):
        await admin.delete_server(store, SUB, node_name=SUB)
    with pytest.raises(admin.NotFound):
        await admin.delete_server(store, "ghost", node_name=PUB)
    assert await snapshot(store) == before
    await admin.set_server_ports(store, SUB, oauth_port=6090)  # a node_services row
    await admin.delete_server(store, SUB, node_name=PUB)
    assert [s.name for s in await admin.list_servers(store)] == [PUB, "cucm-sub2"]
    assert await store.node_services.list(SUB) == []


async def test_changes_are_announced(store: Store) -> None:
    await _cluster(store)
    async with store.listen("config") as changes:
        await admin.set_server_ports(store, SUB, oauth_port=6090)
        assert await anext(aiter(changes)) == f"server {SUB} ports"


async def test_servers_added_or_deleted_mark_default_group_phones_for_reset(
    store: Store,
) -> None:
    """The Default CallManager group is every server: adding or deleting one
    changes the node list of its phones (their files), which a reset applies;
    a phone in a group of its own is not concerned."""
    await admin.add_server(store, PUB, "10.0.0.1", "publisher")
    await admin.ensure_default_profiles(store)
    await admin.add_device(store, name="SEP001122334455", model="8851", lines=["1001"])
    await admin.add_device(store, name="SEP001122334466", model="8851", lines=["1002"])
    await admin.add_group(store, name="Pub only", nodes=[PUB])
    await admin.update_device(store, "SEP001122334466", callmanager_group="Pub only")
    await admin.reset_device(store, "SEP001122334455", action="reset")
    await admin.reset_device(store, "SEP001122334466", action="reset")

    async def marked() -> dict[str, bool]:
        return {d.name: d.reset_required for d in await store.devices.list()}

    await admin.add_server(store, SUB, "cucm-sub1.example.com")
    assert await marked() == {"SEP001122334455": True, "SEP001122334466": False}
    await admin.reset_device(store, "SEP001122334455", action="reset")
    await admin.delete_server(store, SUB, node_name=PUB)
    assert await marked() == {"SEP001122334455": True, "SEP001122334466": False}
