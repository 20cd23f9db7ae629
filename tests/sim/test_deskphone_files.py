"""What the simulated phone reads, without sockets: addresses, ``caconfig.json``,
``XMLDefault.cnf.xml`` and ``<DEVICE>.cnf.xml`` as the node renders them
(``sipoauth.provisioning``: the same code, so the two cannot drift), and the
``sim phone`` command end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from sipoauth.cli._sim import sim_app
from sipoauth.pki import cert_to_pem, fingerprint_sha256, generate_ca
from sipoauth.provisioning import (
    CallManager,
    DefaultDocument,
    DeviceDocument,
    EdgeAddress,
    Line,
    MraSettings,
    OAuthSettings,
    TrustSummary,
    render_default,
    render_device,
)
from sipoauth.provisioning._caconfig import TrustedCertificate, build_bundle
from sipoauth.sim import ConfigError, ServerAddress
from sipoauth.sim import EdgeAddress as PhoneEdge
from sipoauth.sim._config import parse_caconfig, parse_default_config, parse_device_file
from sipoauth.sim._tokens import mask_code

from ._simnode import SimNode, start_sim_node

NODES = (
    CallManager("cm1", "cm1.example.com", 5060, 5061, 5090, 5091, 6971),
    CallManager("cm2", "10.0.0.2", 5070, 5071, 5190, 5191, 7971),
)
OAUTH = OAuthSettings(
    True,
    "https://cm1.example.com:8443",
    "https://cm1.example.com:8443/oauth/token",
    "https://cm1.example.com:8443/oauth/authorize",
)
DOC = DeviceDocument(
    name="SEP001122334455",
    model="8845",
    device_type="desk",
    description="Reception",
    owner=None,
    config_version=3,
    security_profile="OAuth 8845",
    security_mode="encrypted",
    transport="TLS",
    oauth=OAUTH,
    sip_oauth_mode=True,
    group_name="Branch",
    call_managers=NODES,
    lines=(Line(2, "1002"), Line(1, "1001")),
    trust=TrustSummary("ab" * 32, 1),
    mra=MraSettings(
        None,
        (),
        (EdgeAddress("edge1.example.com", 5061, 8443), EdgeAddress("192.0.2.7", 5062, 9443)),
        True,
    ),
)


def test_the_device_file_gives_nodes_in_order_lines_by_button_and_the_version() -> None:
    file = parse_device_file(render_device(DOC))
    assert [(c.host, c.sip_oauth_port) for c in file.call_managers] == [
        ("cm1.example.com", 5090),
        ("10.0.0.2", 5190),
    ]
    assert [s.address for s in file.config_servers] == ["cm1.example.com:6971", "10.0.0.2:7971"]
    assert file.lines == ("1001", "1002")
    assert (file.config_version, file.access_mode, file.group) == (3, "on-premises", "Branch")
    assert file.oauth.token_endpoint == OAUTH.token_endpoint
    assert file.sip_oauth_mode and file.oauth_enabled


def test_the_mra_variant_lists_the_edges_and_the_token_endpoint_at_the_first() -> None:
    file = parse_device_file(render_device(DOC, "mra"))
    assert file.access_mode == "mra"
    assert [c.address for c in file.call_managers] == ["edge1.example.com:5061", "192.0.2.7:5062"]
    assert file.config_servers == ()
    assert file.oauth.token_endpoint == "https://edge1.example.com:8443/oauth/token"


def test_the_default_file_says_where_the_token_endpoint_and_config_servers_are() -> None:
    default = parse_default_config(
        render_default(DefaultDocument(True, "Default", NODES, OAUTH, TrustSummary("0" * 64, 0)))
    )
    assert default.oauth.token_endpoint == OAUTH.token_endpoint
    assert [s.port for s in default.config_servers] == [6971, 7971]
    assert len(default.call_managers) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<device><name>x</name></device>", "is missing"),
        (b"not xml", "not well-formed"),
        (b"<Default/>", "root element <Default>"),
        (
            b'<!DOCTYPE d [<!ENTITY a "aaaa">]><device>&a;</device>',
            "document type declaration is not accepted",
        ),
    ],
)
def test_a_broken_file_is_a_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_device_file(body)


def test_caconfig_is_checked_certificate_by_certificate_and_as_a_whole() -> None:
    now = datetime.now(UTC)
    cas = [generate_ca(f"Phone trust {n}", now=now)[0] for n in range(2)]
    body = build_bundle(
        [
            TrustedCertificate(
                fingerprint_sha256(ca),
                cert_to_pem(ca).decode(),
                ca.subject.rfc4514_string(),
                ca.issuer.rfc4514_string(),
                now,
                now + timedelta(days=1),
            )
            for ca in cas
        ]
    ).body
    bundle = parse_caconfig(body)
    assert bundle.count == 2 and len(bundle.sha256) == 64
    data = json.loads(body)
    data["certificates"][0]["pem"], data["certificates"][1]["pem"] = (
        data["certificates"][1]["pem"],
        data["certificates"][0]["pem"],
    )
    with pytest.raises(ConfigError, match="does not match its sha256"):
        parse_caconfig(json.dumps(data).encode())
    data = json.loads(body)
    data["sha256"] = "0" * 64
    with pytest.raises(ConfigError, match="bundle does not match"):
        parse_caconfig(json.dumps(data).encode())
    with pytest.raises(ConfigError, match="upload the CA"):
        parse_caconfig(b'{"version": 1, "sha256": "", "certificates": []}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cm1", ServerAddress("cm1", 6970)),
        ("cm1:16970", ServerAddress("cm1", 16970)),
        ("[::1]:6970", ServerAddress("::1", 6970)),
    ],
)
def test_server_addresses(text: str, expected: ServerAddress) -> None:
    assert ServerAddress.parse(text) == expected


def test_edge_addresses_take_sip_web_and_bootstrap_ports() -> None:
    assert PhoneEdge.parse("edge") == PhoneEdge("edge", 5061, 8443, 6970)
    assert PhoneEdge.parse("edge:15061:18443:16970") == PhoneEdge("edge", 15061, 18443, 16970)
    assert PhoneEdge.parse("edge:15061").web_base == "https://edge:8443"
    for bad in ("edge:1:2:3:4", "edge:x", ":5061", "[::1", "edge:0"):
        with pytest.raises(ConfigError):
            PhoneEdge.parse(bad)


@given(st.text(alphabet="0123456789- ", min_size=0, max_size=30))
def test_a_masked_code_shows_at_most_its_last_four_digits(code: str) -> None:
    masked = mask_code(code)
    digits = "".join(ch for ch in code if ch.isdigit())
    assert masked.startswith("****-****-****-")
    if len(digits) >= 8:
        assert digits not in masked


# -- the command ---------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimNode]:
    node = await start_sim_node(Path(tmp_path_factory.mktemp("phonecli")))
    try:
        yield node
    finally:
        await node.close()


def _invoke(args: list[str]) -> tuple[int, list[dict[str, object]], str]:
    app = typer.Typer()
    app.add_typer(sim_app, name="sim")
    result = CliRunner().invoke(app, ["sim", *args])
    # (the node runs in this process: its log lines land in the same capture)
    lines = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    return result.exit_code, lines, result.output


@pytest.mark.asyncio(loop_scope="module")
async def test_sim_phone_runs_for_its_duration_then_unregisters(sim: SimNode) -> None:
    """``sipoauth sim phone --json --duration 1``: one JSON object per step, exit 0;
    the same code again: the phone fails (exit 1) saying why, code masked."""
    mac, code, _ = await sim.new_phone()
    args = [
        "phone", "--mac", mac, "--model", "8851", "--activation-code", code,
        "--server", f"localhost:{sim.ports['tftp_port']}", "--duration", "1", "--json",
    ]  # fmt: skip
    status, events, output = await asyncio.to_thread(_invoke, args)
    assert status == 0, output
    assert [e["event"] for e in events] == [
        "caconfig", "default-config", "activated", "config", "registered", "unregistered",
        "stopped",
    ]  # fmt: skip
    assert {e["device"] for e in events} == {f"SEP{mac}"}
    assert code not in output
    status, events, output = await asyncio.to_thread(_invoke, args)
    assert status == 1
    assert events[-1]["event"] == "failed" and events[-1]["reason"] == "activation"
    assert code not in output


def test_sim_needs_a_server_or_an_edge() -> None:
    status, _, output = _invoke(["phone", "--mac", "001122334455", "--activation-code", "1"])
    assert status == 2 and "give --server" in output
    status, _, output = _invoke(
        ["phone", "--mac", "0011", "--activation-code", "1", "--server", "cm1"]
    )
    assert status == 2 and "12 hex digits" in output
