"""The desk-phone simulator through the edge proxy (issue 6 points 1, 3, 6; R12).

A phone outside knows only the edge (``--edge HOST:SIP:WEB:BOOTSTRAP``): it
fetches ``caconfig.json`` from the edge's bootstrap port (phone-edge-trust
holds the edge's CA), onboards with its activation code at the edge's web
port, gets the MRA variant of its file there (the edges as its CallManager
group, the token endpoint at the edge) and registers with the edge's SIP TLS
port; the edge relays over mutual TLS to the node's MRA port with a Path.
The edge's public host and ports in its entry are those it really binds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from sipoauth import admin
from sipoauth.sim import DeskPhone, DeskPhoneConfig, EdgeAddress, SimEvent
from sipoauth.sim._edge import Edge
from sipoauth.sim._edge_config import EdgeConfig, NodeAddress
from sipoauth.sim._edge_pki import EdgeFiles, init_edge_dir
from sipoauth.sim._load import LoadConfig, read_activation_csv, run_load
from sipoauth.store import Store

from ._simnode import FAST, SimNode, free_ports, start_sim_node

pytestmark = pytest.mark.asyncio(loop_scope="module")

EDGE_NAME = "edge.example.com"


@dataclass
class World:
    sim: SimNode
    edge: Edge
    address: EdgeAddress


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    root = Path(tmp_path_factory.mktemp("mra"))
    files: EdgeFiles = init_edge_dir(root / "edge", EDGE_NAME, now=datetime.now(UTC))[0]
    sip, web, bootstrap = free_ports(3)

    async def edge_entry(store: Store) -> None:
        ca = files.ca_cert.read_bytes()
        await admin.upload_trust(store, "tomcat-trust", ca)  # the node trusts the edge (R5)
        await admin.upload_trust(store, "phone-edge-trust", ca)  # phones trust it (R3)
        await admin.add_edge(store, address=EDGE_NAME, x509_names=[EDGE_NAME])
        await admin.update_edge(
            store, EDGE_NAME, public_host="localhost", public_sip_port=sip, public_web_port=web
        )

    sim = await start_sim_node(root / "node", before_start=edge_entry)
    ports = sim.ports
    edge = Edge(
        EdgeConfig(
            nodes=(
                NodeAddress(
                    "127.0.0.1",
                    ports["mra_port"],
                    ports["web_port"],
                    ports["tftp_port"],
                    ports["tftp_secure_port"],
                ),
            ),
            server_cert=files.server_cert,
            server_key=files.server_key,
            client_cert=files.client_cert,
            client_key=files.client_key,
            node_ca_files=(sim.prepared.data_dir / "pki" / "ca.pem",),
            public_host=EDGE_NAME,
            bind="127.0.0.1",
            sip_port=sip,
            web_port=web,
            bootstrap_port=bootstrap,
            push_on_start=False,
        )
    )
    await edge.start()
    try:
        yield World(sim, edge, EdgeAddress("localhost", sip, web, bootstrap))
    finally:
        await edge.close()
        await sim.close()


async def _phone(world: World, *, allow_mra: bool) -> tuple[DeskPhone, str]:
    mac, code, _ = await world.sim.new_phone()
    if allow_mra:
        await admin.update_device(world.sim.store, f"SEP{mac}", allow_activation_via_mra=True)
    config = DeskPhoneConfig(
        mac=mac, model="8851", activation_code=code, edge=world.address, settings=FAST
    )
    return DeskPhone(config), code


async def test_through_the_edge_a_phone_onboards_registers_is_reset_and_unregisters(
    world: World,
) -> None:
    phone, _ = await _phone(world, allow_mra=True)
    await phone.start()
    registered = await phone.wait_for("registered", timeout=30)
    assert [e.kind for e in phone.log.events] == ["caconfig", "activated", "config", "registered"]
    assert phone.log.events[0].message == "caconfig.json: 2 certificates"
    config = phone.log.events[2]
    assert config.data["access_mode"] == "mra"
    assert config.data["source"] == f"localhost:{world.address.web_port}"
    assert registered.data["node"] == f"localhost:{world.address.sip_port}"
    assert phone.file is not None
    assert phone.token_endpoint() == f"https://localhost:{world.address.web_port}/oauth/token"
    assert world.sim.node.registrar is not None
    [binding] = [b for b in world.sim.node.registrar.table if b.device == phone.name]
    assert binding.via_edge and binding.path

    mark = phone.mark()
    version = await admin.reset_device(world.sim.store, phone.name, action="apply-config")
    notify = await phone.wait_for("notify", since=mark, timeout=10)
    assert notify.data["config_version"] == version

    final = await phone.stop()
    assert final.kind == "stopped" and phone.log.last("unregistered") is not None
    assert not [b for b in world.sim.node.registrar.table if b.device == phone.name]


async def test_a_phone_not_allowed_activation_via_mra_is_refused_and_says_why(
    world: World,
) -> None:
    """R12.1: without "Allow Activation Code via MRA" the right code is refused
    through the edge, and (the code being right) the answer says why."""
    phone, code = await _phone(world, allow_mra=False)
    await phone.start()
    final = await phone.finished()
    assert (final.kind, final.data["reason"]) == ("failed", "activation")
    assert final.message == (
        f"failed: activation with code ****-****-****-{code[-4:]} refused: unauthorized_client "
        "(activation through Mobile and Remote Access is not allowed for this phone)"
    )


async def test_sim_load_through_the_edge(world: World) -> None:
    """Issue 6 point 7 against an edge: phones allowed activation via MRA come
    up through it (their bindings carry the edge's Path) and unregister at the end."""
    names = []
    for _ in range(5):
        mac, _, _ = await world.sim.new_phone()
        names.append(f"SEP{mac}")
        await admin.update_device(world.sim.store, names[-1], allow_activation_via_mra=True)
    text = await admin.export_activation_codes_csv(world.sim.store, names, now=datetime.now(UTC))
    phones = read_activation_csv(text)
    config = LoadConfig(phones=len(phones), edge=world.address, rate=50, settings=FAST)
    seen: set[str] = set()

    def on_event(event: SimEvent) -> None:
        if event.kind == "registered":
            assert world.sim.node.registrar is not None
            for binding in world.sim.node.registrar.table:
                if binding.device == event.device:
                    assert binding.via_edge and binding.path
                    seen.add(event.device)

    report = await run_load(config, phones, on_event=on_event)
    assert (report.registered, report.unregistered) == (5, 5), report
    assert seen == set(names)
    assert world.sim.node.registrar is not None
    assert not [b for b in world.sim.node.registrar.table if b.device in seen]
