"""The source document's whole task flow through the command line (issue 4):
R2.2, R3 → R8, R9 and R12.1, in order, against a running node (`sipoauth
serve` in a subprocess), ending with the state checked through the CLI's JSON
listings and, the proof that counts, a desk phone onboarding with its
activation code over HTTPS and registering with the token on the port the flow
configured.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from sipoauth.oauth import ACTIVATION_GRANT, DESK_PHONE_CLIENT
from sipoauth.pki import cert_to_pem, client_ssl_context, generate_ca
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request

from .test_services_cli import (
    CM,
    ENV,
    HOST,
    STARTUP_TIMEOUT,
    Served,
    as_json,
    free_port,
    refused,
    sipoauth,
)

PHONE = "SEP0022AABBCC01"
PROFILE = "8851 - OAuth Security Profile"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Served]:
    data_dir = tmp_path / "var"
    sipoauth(data_dir, "init")
    taken: set[int] = set()
    oauth, mra, web = free_port(taken), free_port(taken), free_port(taken)
    tftp, tftp_secure = free_port(taken), free_port(taken)
    sipoauth(
        data_dir, "servers", "set-ports", HOST,
        "--sip-oauth-port", str(oauth), "--sip-mra-port", str(mra), "--web-port", str(web),
        "--tftp-port", str(tftp), "--tftp-secure-port", str(tftp_secure),
    )  # fmt: skip
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    command = [sys.executable, "-m", "sipoauth", "--data-dir", str(data_dir)]
    command += ["--hostname", HOST, "serve", "--bind", "127.0.0.1"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=ENV, cwd=tmp_path)
    served = Served(data_dir, process, oauth, mra, web, tftp, tftp_secure)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while b"Ctrl-C stops the node." not in out.read_bytes():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        yield served
    finally:
        served.stop()


async def onboard_and_register(node: Served, code: str, oauth_port: int) -> tuple[int, int]:
    """R12.1 / DESIGN "Grants": the phone trades its code for a token at the node's
    authorization server, then registers with it on the SIP Phone OAuth Port."""
    ca = (node.data_dir / "pki" / "ca.pem").read_bytes()
    tls = client_ssl_context([ca], check_hostname=False)
    async with httpx.AsyncClient(verify=tls, base_url=f"https://127.0.0.1:{node.web_port}") as web:
        answer = await web.post(
            "/oauth/token",
            data={
                "grant_type": ACTIVATION_GRANT,
                "client_id": DESK_PHONE_CLIENT,
                "activation_code": code,
                "mac": PHONE[3:],
                "model": "8851",
            },
        )
    if answer.status_code != 200:
        return answer.status_code, 0
    token = answer.json()["access_token"]
    client = await SipTlsClient.connect(
        "127.0.0.1", oauth_port, client_ssl_context([ca], check_hostname=False),
        server_hostname=HOST,
    )  # fmt: skip
    try:
        ident = PhoneIdentity(device=PHONE, line="1001", domain=HOST)
        call_id = str(uuid.uuid4())
        # The node learns of the phone added a moment ago from the store's change
        # notifications (on SQLite a poll, ~1 s): until then it answers 403 with
        # Retry-After, and the phone tries again, as a real one would.
        deadline = time.monotonic() + 15
        for cseq in range(1, 1000):
            request = register_request(
                ident, call_id=call_id, cseq=cseq, branch=client.next_branch(), token=token
            )
            reply = await client.request(request)
            if reply.status != 403 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
    finally:
        await client.close()
    return answer.status_code, reply.status


def test_task_flow_r3_to_r9_and_r12_1(node: Served, tmp_path: Path) -> None:
    d = node.data_dir
    # R2.2: licensing with export-controlled functionality, or the mode cannot be enabled.
    refused_mode = sipoauth(d, "utils", "sipOAuth-mode", "enable", ok=False)
    assert "export-controlled" in refused_mode.stderr
    sipoauth(d, "license", "register", "--virtual-account", "Voice", "--allow-export-controlled")

    # R3: the CA that signed the web certificate goes to phone-edge-trust.
    sipoauth(d, "certificates", "upload", "phone-edge-trust", str(d / "pki" / "ca.pem"))
    not_a_cert = tmp_path / "junk.pem"
    not_a_cert.write_text("hello")
    sipoauth(d, "certificates", "upload", "phone-edge-trust", str(not_a_cert), ok=False)
    assert len(as_json(d, "certificates", "list", "phone-edge-trust")) == 1

    # R4: the refresh login flow (enterprise parameter), range checks on its siblings.
    sipoauth(d, "parameters", "set", "OAuth with Refresh Login Flow", "Enabled")
    bad = sipoauth(
        d, "parameters", "set", "OAuth Access Token Expiry Timer (minutes)", "0", ok=False
    )
    assert "between 1 and 1440" in bad.stderr

    # R5: OAuth ports per server; a change waits for the CallManager restart.
    taken = {node.oauth_port, node.mra_port, node.web_port}
    oauth, mra = free_port(taken), free_port(taken)
    sipoauth(
        d, "servers", "set-ports", HOST, "--sip-oauth-port", str(oauth), "--sip-mra-port", str(mra)
    )
    out_of_range = sipoauth(d, "servers", "set-ports", HOST, "--sip-oauth-port", "80", ok=False)
    assert "1024-49151" in out_of_range.stderr

    # R6: the edge (Expressway-C) entry, and its CA in the web trust store (R5 note).
    edge_ca, _ = generate_ca("Expressway CA", now=datetime.now(UTC))
    edge_ca_file = tmp_path / "edge-ca.pem"
    edge_ca_file.write_bytes(cert_to_pem(edge_ca))
    sipoauth(d, "certificates", "upload", "tomcat-trust", str(edge_ca_file))
    sipoauth(
        d, "edges", "add", "192.0.2.50", "--x509-name", "expc.example.com",
        "--description", "Expressway-C",
    )  # fmt: skip

    # R7: the mode, on the publisher, for the whole cluster; R8: restart applies it.
    sipoauth(d, "utils", "sipOAuth-mode", "enable")
    pending = as_json(d, "utils", "service", "list")[0]
    assert (pending["service"], pending["restart_pending"]) == (CM, True)
    restarted = sipoauth(d, "utils", "service", "restart", CM).stdout
    assert f"SIP Phone OAuth Port {oauth} (TLS)" in restarted
    assert "SIP OAuth mode enabled" in restarted
    status = as_json(d, "utils", "sipOAuth-mode", "status")
    assert status["sip_oauth_mode"] is True
    assert [n["applied"] for n in status["nodes"]] == [True]
    ports = {(p["name"], p["port"]) for p in as_json(d, "show", "open", "ports")}
    assert {("SIP Phone OAuth Port", oauth), ("SIP Mobile and Remote Access Port", mra)} <= ports
    assert refused(node.oauth_port)

    # R9: the OAuth phone security profile; digest with OAuth is refused, saying why.
    sipoauth(
        d, "profiles", "add", PROFILE, "--device-type", "8851",
        "--security-mode", "encrypted", "--transport", "TLS", "--oauth",
    )  # fmt: skip
    digest = sipoauth(
        d, "profiles", "add", "bad", "--device-type", "8851", "--security-mode", "encrypted",
        "--transport", "TLS", "--oauth", "--digest", ok=False,
    )  # fmt: skip
    assert "Digest" in digest.stderr

    # R12.1: the phone for remote access with an activation code; Save, Apply Config.
    sipoauth(d, "mra-domains", "add", "MRA", "--domain", "mra.example.com", "--default")
    sipoauth(
        d, "devices", "add", PHONE, "--model", "8851", "--line", "1001", "--profile", PROFILE,
        "--requires-activation-code", "--allow-activation-via-mra",
    )  # fmt: skip
    sipoauth(d, "devices", "set", PHONE, "--mra-service-domain", "MRA")
    sipoauth(d, "devices", "apply-config", PHONE)
    generated = as_json(d, "activation-codes", "generate", PHONE)
    assert len(generated["code"]) == 16

    # The state, as the CLI lists it.
    params = {p["name"]: p["value"] for p in as_json(d, "parameters", "list")}
    assert params["OAuth with Refresh Login Flow"] in (True, "Enabled")
    server = as_json(d, "servers", "list")[0]
    assert (server["oauth_port"], server["mra_port"]) == (oauth, mra)
    edges = as_json(d, "edges", "list")
    assert [(e["address"], e["x509_names"]) for e in edges] == [
        ("192.0.2.50", ["expc.example.com"])
    ]
    device = next(x for x in as_json(d, "devices", "list") if x["name"] == PHONE)
    assert device["profile"] == PROFILE
    actions = {(a["action"], a["interface"]) for a in as_json(d, "audit", "list", "--limit", "200")}
    assert ("cli" in {i for _, i in actions}) and len(actions) >= 8

    # And it works: the code gives a token that registers the phone on the new port.
    token_status, register_status = asyncio.run(
        onboard_and_register(node, generated["code"], oauth)
    )
    assert (token_status, register_status) == (200, 200)
    # The registrations view is the store's mirror, written behind (about a second).
    deadline = time.monotonic() + 10
    while PHONE not in json.dumps(as_json(d, "registrations", "list")):
        assert time.monotonic() < deadline, "the registration never reached the mirror"
        time.sleep(0.2)
