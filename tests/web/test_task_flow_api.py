"""The source document's whole task flow through the REST API (issue 4): R2.2,
R3 → R8, R9 and R12.1, in order, against a running node (`sipoauth serve` in a
subprocess) reached over HTTPS at `/api/v1` as the admin (Basic once for a
bearer token, the bearer after), ending with the state checked through the
API's listings and a desk phone onboarding with its activation code and
registering with the token on the port the flow configured.

The same steps as tests/cli/test_task_flow_cli.py, through the other interface.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from cli.test_services_cli import (
    CM,
    ENV,
    HOST,
    STARTUP_TIMEOUT,
    Served,
    free_port,
    refused,
    sipoauth,
)
from cli.test_task_flow_cli import PHONE, PROFILE, onboard_and_register
from sipoauth.pki import cert_to_pem, client_ssl_context, generate_ca

API = "/api/v1"
PASSWORD = "Task-Flow-API-Passw0rd!"
REFRESH_FLOW = "OAuth with Refresh Login Flow"
EXPIRY = "OAuth Access Token Expiry Timer (minutes)"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Served]:
    """`sipoauth serve` on free ports, on a data directory initialised with a known
    admin password."""
    data_dir = tmp_path / "var"
    password_file = tmp_path / "admin-password"
    password_file.write_text(PASSWORD + "\n")
    sipoauth(data_dir, "init", "--admin-password-file", str(password_file))
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


@pytest.fixture
def rest(node: Served) -> Iterator[httpx.Client]:
    """An HTTPS client of the node's API, verifying the node CA; a bearer token
    obtained with Basic as the admin, then sent with every request."""
    ca = (node.data_dir / "pki" / "ca.pem").read_bytes()
    tls = client_ssl_context([ca], check_hostname=False)
    base = f"https://127.0.0.1:{node.web_port}{API}"
    with httpx.Client(verify=tls, base_url=base, timeout=30) as client:
        assert client.get("/servers").status_code == 401
        r = client.post("/auth/tokens", auth=("admin", PASSWORD))
        assert r.status_code == 201, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield client
        assert client.delete("/auth/tokens/current").status_code == 204


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def refusal(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "message"}, body
    return str(body["message"])


def test_task_flow_r3_to_r9_and_r12_1_through_the_api(node: Served, rest: httpx.Client) -> None:
    d = node.data_dir
    # R2.2: licensing with export-controlled functionality, or the mode cannot be enabled.
    message = refusal(rest.post("/sip-oauth-mode/enable"), 409)
    assert "export-controlled" in message
    assert ok(rest.get("/sip-oauth-mode"))["enabled"] is False
    license_ = ok(
        rest.post(
            "/license/register",
            json={"virtual_account": "Voice", "allow_export_controlled": True},
        )
    )
    assert (license_["registration"], license_["export_controlled_allowed"]) == (
        "registered",
        True,
    )
    assert license_["sip_oauth_mode"] is False

    # R3: the CA that signed the web certificate goes to phone-edge-trust.
    web_ca = (d / "pki" / "ca.pem").read_bytes()
    pem = {"Content-Type": "application/x-pem-file"}
    [uploaded] = ok(rest.post("/certificates/phone-edge-trust", content=web_ca, headers=pem), 201)
    assert (uploaded["store"], uploaded["pem"].encode()) == ("phone-edge-trust", web_ca)
    junk = rest.post("/certificates/phone-edge-trust", content=b"hello", headers=pem)
    assert "not a certificate" in refusal(junk, 422)
    trusted = ok(rest.get("/certificates/phone-edge-trust"))
    assert [c["fingerprint"] for c in trusted] == [uploaded["fingerprint"]]

    # R4: the refresh login flow (enterprise parameter), range checks on its siblings.
    flow = ok(rest.put(f"/parameters/{quote(REFRESH_FLOW)}", json={"value": "Enabled"}))
    assert flow["value"] in (True, "Enabled") and flow["changed"] is True
    message = refusal(rest.put(f"/parameters/{quote(EXPIRY)}", json={"value": 0}), 422)
    assert "between 1 and 1440" in message

    # R5: OAuth ports per server; a change waits for the CallManager restart.
    taken = {node.oauth_port, node.mra_port, node.web_port}
    oauth, mra = free_port(taken), free_port(taken)
    server = ok(rest.patch(f"/servers/{HOST}/ports", json={"oauth_port": oauth, "mra_port": mra}))
    assert (server["oauth_port"], server["mra_port"]) == (oauth, mra)
    message = refusal(rest.patch(f"/servers/{HOST}/ports", json={"oauth_port": 80}), 422)
    assert "1024-49151" in message
    assert ok(rest.get(f"/servers/{HOST}"))["oauth_port"] == oauth  # the refusal changed nothing

    # R6: the edge (Expressway-C) entry, and its CA in the web trust store (R5 note).
    edge_ca, _ = generate_ca("Expressway CA", now=datetime.now(UTC))
    edge_ca_pem = cert_to_pem(edge_ca)
    [tomcat_trust] = ok(
        rest.post("/certificates/tomcat-trust", content=edge_ca_pem, headers=pem), 201
    )
    assert "Expressway CA" in tomcat_trust["subject"]
    edge = ok(
        rest.post(
            "/edges",
            json={
                "address": "192.0.2.50",
                "x509_names": ["expc.example.com"],
                "description": "Expressway-C",
            },
        ),
        201,
    )
    assert (edge["address"], edge["x509_names"]) == ("192.0.2.50", ["expc.example.com"])

    # R7: the mode, on the publisher, for the whole cluster; R8: restart applies it.
    mode = ok(rest.post("/sip-oauth-mode/enable"))
    assert mode["enabled"] is True and mode["restart_pending"] == [HOST]
    pending = ok(rest.get("/services"))[0]
    assert (pending["service"], pending["restart_pending"]) == (CM, True)
    r = rest.post(f"/services/{HOST}/{quote(CM)}/restart")
    command = ok(r, 202)
    assert (command["action"], command["node"], command["requested_by"]) == (
        "restart",
        HOST,
        "admin",
    )
    location = r.headers["location"]
    assert location.endswith(f"/service-commands/{command['id']}")
    deadline = time.monotonic() + 20
    while command["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, command
        time.sleep(0.1)
        command = ok(rest.get(f"/service-commands/{command['id']}"))
    assert command["status"] == "done", command
    assert f"SIP Phone OAuth Port {oauth} (TLS)" in command["message"]
    assert command["message"].endswith("SIP OAuth mode enabled")
    status = ok(rest.get("/sip-oauth-mode"))
    assert status["enabled"] is True
    assert [(n["applied"], n["restart_pending"]) for n in status["nodes"]] == [(True, False)]
    callmanager = ok(rest.get("/services", params={"node": HOST}))[0]
    assert (callmanager["state"], callmanager["restart_pending"]) == ("running", False)
    assert callmanager["sip_oauth_mode"] is True
    ports = {(p["name"], p["port"]) for p in ok(rest.get("/open-ports"))}
    assert {("SIP Phone OAuth Port", oauth), ("SIP Mobile and Remote Access Port", mra)} <= ports
    assert refused(node.oauth_port)

    # R9: the OAuth phone security profile; digest with OAuth is refused, saying why.
    oauth_profile = {
        "name": PROFILE,
        "device_type": "8851",
        "security_mode": "encrypted",
        "transport": "TLS",
        "oauth": True,
    }
    profile = ok(rest.post("/profiles", json=oauth_profile), 201)
    assert (profile["oauth"], profile["digest"], profile["transport"]) == (True, False, "TLS")
    digest = rest.post("/profiles", json=oauth_profile | {"name": "bad", "digest": True})
    assert "Digest Authentication is not supported with OAuth" in refusal(digest, 422)
    assert rest.get("/profiles/bad").status_code == 404  # the refusal stored nothing

    # R12.1: the phone for remote access with an activation code; Save, Apply Config.
    domain = {"name": "MRA", "domains": ["mra.example.com"], "is_default": True}
    assert ok(rest.post("/mra-domains", json=domain), 201)["is_default"] is True
    phone = {
        "name": PHONE,
        "model": "8851",
        "lines": ["1001"],
        "profile": PROFILE,
        "requires_activation_code": True,
        "allow_activation_via_mra": True,
    }
    added = ok(rest.post("/devices", json=phone), 201)
    assert (added["requires_activation_code"], added["allow_activation_via_mra"]) == (True, True)
    changed = ok(rest.patch(f"/devices/{PHONE}", json={"mra_service_domain": "MRA"}))
    assert changed["mra_service_domain"] == "MRA"
    applied = ok(rest.post(f"/devices/{PHONE}/apply-config"))
    assert (applied["device"], applied["action"]) == (PHONE, "apply-config")
    assert applied["config_version"] > added["config_version"]
    generated = ok(rest.post(f"/devices/{PHONE}/activation-code"), 201)
    code = generated["activation_code"]
    assert len(code) == 16 and code.isdigit()
    assert generated["display"].replace("-", "") == code
    assert [c["device"] for c in ok(rest.get("/activation-codes"))] == [PHONE]

    # The state, as the API lists it.
    params = {p["name"]: p["value"] for p in ok(rest.get("/parameters"))}
    assert params[REFRESH_FLOW] in (True, "Enabled")
    servers = ok(rest.get("/servers"))
    assert [(s["name"], s["oauth_port"], s["mra_port"]) for s in servers] == [(HOST, oauth, mra)]
    edges = ok(rest.get("/edges"))
    assert [(e["address"], e["x509_names"]) for e in edges] == [
        ("192.0.2.50", ["expc.example.com"])
    ]
    devices = ok(rest.get("/devices", params={"name_contains": PHONE}))
    device = next(x for x in devices["items"] if x["name"] == PHONE)
    assert (device["profile"], device["mra_service_domain"]) == (PROFILE, "MRA")
    rows = ok(rest.get("/audit", params={"limit": 200}))
    by_api = {(a["action"], a["object_type"]) for a in rows if a["interface"] == "api"}
    assert {a["actor"] for a in rows if a["interface"] == "api"} == {"admin"}
    assert {
        ("register", "license"),
        ("upload", "certificate"),
        ("set", "parameter"),
        ("set-ports", "server"),
        ("add", "edge"),
        ("enable", "sip-oauth-mode"),
        ("restart", "service"),
        ("add", "security-profile"),
        ("add", "mra-domain"),
        ("add", "device"),
        ("update", "device"),
        ("apply-config", "device"),
        ("generate-activation-code", "device"),
    } <= by_api, by_api

    # And it works: the code gives a token that registers the phone on the new port.
    token_status, register_status = asyncio.run(onboard_and_register(node, code, oauth))
    assert (token_status, register_status) == (200, 200)
    # The registrations view is the store's mirror, written behind (about a second).
    deadline = time.monotonic() + 10
    while not (registered := ok(rest.get("/registrations", params={"device": PHONE}))):
        assert time.monotonic() < deadline, "the registration never reached the mirror"
        time.sleep(0.2)
    assert [(x["device"], x["line"], x["port"], x["via_edge"]) for x in registered] == [
        (PHONE, "1001", oauth, False)
    ]
