"""A desk phone trying a password through the edge (issue 6 point 6; R12.2).

"With SIP OAuth through remote access, users cannot sign in with user name
and password; only activation-code onboarding is allowed." On loopback with
real TLS everywhere: a node, the product's edge in front of it (its own CA in
tomcat-trust and phone-edge-trust, an entry naming it), and a user with a
soft client. Through the edge the desk-phone client (``sipoauth-desk-phone``)
is refused every password route — the sign-in page, the sign-in form posted
with the user's right password, the token endpoint's other grants — with the
node's answer saying so, and nothing is issued (no authorization code, no
grant, no refresh token). Directly, the same user signs in with a soft
client, gets tokens and registers.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from sipoauth import admin
from sipoauth.pki import client_ssl_context
from sipoauth.sim import EdgeAddress, SoftClient, SoftClientConfig
from sipoauth.sim._edge import Edge
from sipoauth.sim._edge_config import EdgeConfig, NodeAddress
from sipoauth.sim._edge_pki import EdgeFiles, init_edge_dir
from sipoauth.sim._tokens import pkce_pair
from sipoauth.store import Store

from ._simnode import FAST, SimNode, free_ports, start_sim_node

pytestmark = pytest.mark.asyncio(loop_scope="module")

EDGE_NAME = "edge.example.com"
DESK_PHONE_CLIENT = "sipoauth-desk-phone"
REDIRECT_URI = "http://127.0.0.1:5555/callback"
VIA_MRA_SIGN_IN = (
    "through Mobile and Remote Access a desk phone must onboard with an activation code, "
    "never a user name and password"
)
VIA_MRA_TOKEN = "through Mobile and Remote Access a desk phone may only use an activation code"
ISSUED = ("authorization_codes", "grants", "refresh_tokens")
"""The tables a sign-in or a token request writes when it succeeds."""


@dataclass
class World:
    sim: SimNode
    edge: Edge
    files: EdgeFiles
    address: EdgeAddress
    user: str
    password: str
    device: str

    def through_edge(self) -> httpx.AsyncClient:
        """A device outside: it trusts the edge's CA (phone-edge-trust) and talks to
        the edge's web port only."""
        return httpx.AsyncClient(
            verify=client_ssl_context([self.files.ca_cert.read_bytes()]),
            base_url=f"https://localhost:{self.address.web_port}",
            timeout=20,
        )

    def direct(self) -> httpx.AsyncClient:
        """A device inside, at the node's web port."""
        return httpx.AsyncClient(
            verify=client_ssl_context([self.sim.prepared.ca_pem]),
            base_url=f"https://localhost:{self.sim.ports['web_port']}",
            timeout=20,
        )

    def issued(self) -> dict[str, int]:
        """Rows of each table tokens are recorded in (read beside the node)."""
        database = self.sim.prepared.data_dir / "sipoauth.db"
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ISSUED}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    root = Path(tmp_path_factory.mktemp("mra-password"))
    files = init_edge_dir(root / "edge", EDGE_NAME, now=datetime.now(UTC))[0]
    sip, web, bootstrap = free_ports(3)

    async def edge_entry(store: Store) -> None:
        ca = files.ca_cert.read_bytes()
        await admin.upload_trust(store, "tomcat-trust", ca)  # the node trusts the edge (R5)
        await admin.upload_trust(store, "phone-edge-trust", ca)  # devices trust it (R3)
        await admin.add_edge(store, address=EDGE_NAME, x509_names=[EDGE_NAME])
        await admin.update_edge(
            store, EDGE_NAME, public_host="localhost", public_sip_port=sip, public_web_port=web
        )

    sim = await start_sim_node(root / "node", before_start=edge_entry)
    p = sim.ports
    edge = Edge(
        EdgeConfig(
            nodes=(
                NodeAddress(
                    "127.0.0.1", p["mra_port"], p["web_port"], p["tftp_port"], p["tftp_secure_port"]
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
        user, password, device = await sim.new_user()
        address = EdgeAddress("localhost", sip, web, bootstrap)
        yield World(sim, edge, files, address, user, password, device)
    finally:
        await edge.close()
        await sim.close()


def _authorize_params(client_id: str = DESK_PHONE_CLIENT) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "sip:register config:read",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


@pytest.fixture
def nothing_issued(world: World) -> Iterator[None]:
    before = world.issued()
    yield
    assert world.issued() == before, "a refused request left a code, a grant or a token"


@pytest.mark.usefixtures("nothing_issued")
async def test_through_the_edge_the_desk_phone_client_gets_no_sign_in_page(world: World) -> None:
    async with world.through_edge() as web:
        page = await web.get("/oauth/authorize", params=_authorize_params())
    assert page.status_code == 400
    assert page.headers["via"].endswith(f"1.1 {EDGE_NAME}")  # it went through the edge
    assert "<code>unauthorized_client</code>: " + VIA_MRA_SIGN_IN in page.text
    assert "password" not in page.text.split(VIA_MRA_SIGN_IN)[1]  # no form to fill in
    assert "set-cookie" not in page.headers


@pytest.mark.usefixtures("nothing_issued")
async def test_through_the_edge_the_users_right_password_is_refused_to_a_desk_phone(
    world: World,
) -> None:
    """The sign-in form posted as a browser would (its CSRF token matching its
    cookie), with the user's right password: refused before the password is
    looked at, no redirect, no code."""
    form = {**_authorize_params(), "csrf_token": "t" * 32}
    form |= {"user_id": world.user, "password": world.password}
    async with world.through_edge() as web:
        web.cookies.set("sipoauth_signin", "t" * 32, domain="localhost")
        answer = await web.post("/oauth/authorize", data=form)
    assert answer.status_code == 400, answer.text
    assert "location" not in answer.headers
    assert "<code>unauthorized_client</code>: " + VIA_MRA_SIGN_IN in answer.text


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "password", "username": "{user}", "password": "{password}"},
        {"grant_type": "authorization_code", "code": "x" * 43, "redirect_uri": REDIRECT_URI},
        {"grant_type": "client_credentials"},
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"},
    ],
    ids=["password", "authorization_code", "client_credentials", "device_code"],
)
@pytest.mark.usefixtures("nothing_issued")
async def test_through_the_edge_the_token_endpoint_refuses_every_other_grant(
    world: World, form: dict[str, str]
) -> None:
    sent = {k: v.format(user=world.user, password=world.password) for k, v in form.items()}
    async with world.through_edge() as web:
        answer = await web.post("/oauth/token", data={**sent, "client_id": DESK_PHONE_CLIENT})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "unauthorized_client", "error_description": VIA_MRA_TOKEN}
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.usefixtures("nothing_issued")
async def test_the_simulated_sign_in_as_a_desk_phone_fails_through_the_edge(world: World) -> None:
    """The product's soft-client sign-in (page, form, password), run with the
    desk-phone client through the edge: it finds no form and fails saying why."""
    device = SoftClient(
        SoftClientConfig(
            user=world.user, password=world.password, device=world.device,
            edge=world.address, settings=FAST,
        )
    )  # fmt: skip
    device.client_id = DESK_PHONE_CLIENT
    await device.start()
    final = await device.finished()
    assert (final.kind, final.data["reason"]) == ("failed", "sign-in")
    assert final.message == "failed: no sign-in form at the authorization endpoint (HTTP 400)"
    assert device.tokens is None and device.log.find("signed-in") is None


async def test_directly_the_same_user_signs_in_with_a_soft_client(world: World) -> None:
    """On premises the sign-in works (a soft client's), and is recorded; the
    desk-phone client is still refused there, for its own reason."""
    async with world.direct() as web:
        page = await web.get("/oauth/authorize", params=_authorize_params())
    assert page.status_code == 400
    assert "desk phones onboard with an activation code, not by signing in" in page.text
    assert VIA_MRA_SIGN_IN not in page.text  # the node told the two paths apart

    before = world.issued()
    client = SoftClient(
        SoftClientConfig(
            user=world.user, password=world.password, device=world.device,
            server=world.sim.server, settings=FAST,
        )
    )  # fmt: skip
    await client.start()
    try:
        signed_in = await client.wait_for("signed-in", timeout=30)
        assert signed_in.data["client_id"] == "sipoauth-csf"
        await client.wait_for("registered", timeout=30)
    finally:
        final = await client.stop()
    assert final.kind == "stopped"
    after = world.issued()
    assert {t: after[t] - before[t] for t in ISSUED} == {
        "authorization_codes": 1,
        "grants": 1,
        "refresh_tokens": 1,
    }
