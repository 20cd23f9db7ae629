"""`sipoauth servers|license|certificates|mra-domains|audit` and the per-node
`utils sipOAuth-mode status` (issue 4 points 2, 4, 5, 7, 12), in process."""

from __future__ import annotations

import getpass
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from typer.testing import CliRunner, Result

from sipoauth.cli import app

HOST = "cucm-pub.example.com"
NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}


def sipoauth(data_dir: Path, *args: str, ok: bool = True) -> Result:
    """`sipoauth --data-dir D --hostname HOST ARGS` in process."""
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "--hostname", HOST, *args], env=NO_ENV
    )
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def as_json(data_dir: Path, *args: str) -> Any:
    return json.loads(sipoauth(data_dir, *args, "--json").stdout)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-system") / "var"
    sipoauth(data_dir, "init")
    return data_dir


@pytest.fixture
def node_dir(initialised: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "var"
    shutil.copytree(initialised, copy)
    return copy


def test_servers(node_dir: Path) -> None:
    sipoauth(node_dir, "servers", "add", "sub1", "--host", "10.0.0.2", "--sip-oauth-port", "6090")
    listed = as_json(node_dir, "servers", "list")
    assert [(s["name"], s["role"], s["oauth_port"]) for s in listed] == [
        (HOST, "publisher", 5090),
        ("sub1", "subscriber", 6090),
    ]
    sipoauth(node_dir, "servers", "set-ports", "sub1", "--sip-mra-port", "6091")
    assert as_json(node_dir, "servers", "list")[1]["mra_port"] == 6091
    bad = sipoauth(node_dir, "servers", "set-ports", "sub1", "--sip-oauth-port", "80", ok=False)
    assert "SIP Phone OAuth Port 80 is out of range: 1024-49151" in bad.stderr
    clash = sipoauth(node_dir, "servers", "set-ports", "sub1", "--sip-mra-port", "6090", ok=False)
    assert "SIP Phone OAuth Port and SIP Mobile and Remote Access Port" in clash.stderr
    assert as_json(node_dir, "servers", "list")[1]["mra_port"] == 6091
    refused = sipoauth(node_dir, "servers", "delete", HOST, ok=False)
    assert "publisher" in refused.stderr
    sipoauth(node_dir, "servers", "delete", "sub1")
    assert len(as_json(node_dir, "servers", "list")) == 1


def test_license_and_mode(node_dir: Path) -> None:
    """R2.2, R7, R8 from the command line."""
    refused = sipoauth(node_dir, "utils", "sipOAuth-mode", "enable", ok=False)
    assert "sipoauth license register" in refused.stderr
    assert as_json(node_dir, "license", "status")["registration"] == "evaluation"
    sipoauth(node_dir, "license", "register", "--virtual-account", "Voice")
    assert "license allow-export-controlled on" in (
        sipoauth(node_dir, "utils", "sipOAuth-mode", "enable", ok=False).stderr
    )
    sipoauth(node_dir, "license", "allow-export-controlled", "on")
    status = as_json(node_dir, "license", "status")
    assert (status["registration"], status["virtual_account"]) == ("registered", "Voice")
    assert status["export_controlled_allowed"] is True
    sipoauth(node_dir, "utils", "sipOAuth-mode", "enable")
    mode = as_json(node_dir, "utils", "sipOAuth-mode", "status")
    assert mode == {
        "sip_oauth_mode": True,
        "nodes": [
            {
                "node": HOST,
                "role": "publisher",
                "callmanager": "unknown",
                "running_mode": None,
                "applied": False,
                "restart_pending": True,
            }
        ],
    }
    text = sipoauth(node_dir, "utils", "sipOAuth-mode", "status").stdout
    assert text.splitlines() == [
        "SIP OAuth mode: enabled",
        f"  {HOST} (publisher): not applied (Cisco CallManager unknown, restart pending)",
    ]
    assert "disable it first" in sipoauth(node_dir, "license", "deregister", ok=False).stderr
    bad = sipoauth(node_dir, "license", "allow-export-controlled", "maybe", ok=False)
    assert "on or off" in bad.stderr


def test_certificates(node_dir: Path, tmp_path: Path) -> None:
    tomcat = as_json(node_dir, "certificates", "list", "tomcat")
    assert tomcat[0]["subject"] == f"CN={HOST}"
    ca = trustme.CA()
    ca_file = tmp_path / "edge-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    sipoauth(node_dir, "certificates", "upload", "phone-edge-trust", str(ca_file))
    listed = as_json(node_dir, "certificates", "list", "phone-edge-trust")
    assert len(listed) == 1
    again = sipoauth(node_dir, "certificates", "upload", "phone-edge-trust", str(ca_file), ok=False)
    assert "already in phone-edge-trust" in again.stderr
    key_file = tmp_path / "key.pem"
    leaf = ca.issue_cert(HOST)
    leaf.private_key_pem.write_to_path(str(key_file))
    leaf_subject = x509.load_pem_x509_certificate(
        leaf.cert_chain_pems[0].bytes()
    ).subject.rfc4514_string()
    refused = sipoauth(node_dir, "certificates", "upload", "tomcat-trust", str(key_file), ok=False)
    assert "a private key cannot be uploaded to a trust store" in refused.stderr
    unknown = sipoauth(node_dir, "certificates", "list", "nope", ok=False)
    assert "tomcat, tomcat-trust, phone-edge-trust, callmanager-trust" in unknown.stderr
    sipoauth(node_dir, "certificates", "delete", "phone-edge-trust", listed[0]["fingerprint"])
    assert as_json(node_dir, "certificates", "list", "phone-edge-trust") == []
    regenerated = sipoauth(node_dir, "certificates", "regenerate", "tomcat")
    assert "callmanager, tftp, tomcat" in regenerated.stdout
    assert (
        as_json(node_dir, "certificates", "list", "tomcat")[0]["fingerprint"]
        != (tomcat[0]["fingerprint"])
    )
    cert_file, chain_file = tmp_path / "cert.pem", tmp_path / "chain.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert_file))
    ca.cert_pem.write_to_path(str(chain_file))
    sipoauth(
        node_dir,
        "certificates",
        "upload-tomcat",
        "--cert",
        str(cert_file),
        "--key",
        str(key_file),
        "--chain",
        str(chain_file),
    )
    uploaded = as_json(node_dir, "certificates", "list", "tomcat")
    assert [c["subject"] for c in uploaded] == [leaf_subject, listed[0]["subject"]]


def test_mra_domains(node_dir: Path) -> None:
    sipoauth(node_dir, "mra-domains", "add", "Corp", "--domain", "mra.example.com", "--default")
    sipoauth(
        node_dir, "mra-domains", "add", "Lab", "--domain", "a.example", "--domain", "b.example"
    )
    sipoauth(node_dir, "mra-domains", "set", "Lab", "--default")
    assert as_json(node_dir, "mra-domains", "list") == [
        {"name": "Corp", "default": False, "domains": ["mra.example.com"]},
        {"name": "Lab", "default": True, "domains": ["a.example", "b.example"]},
    ]
    bad = sipoauth(node_dir, "mra-domains", "add", "X", "--domain", "not a domain", ok=False)
    assert "a DNS name" in bad.stderr
    sipoauth(node_dir, "mra-domains", "delete", "Corp")
    assert [d["name"] for d in as_json(node_dir, "mra-domains", "list")] == ["Lab"]


def test_audit_list_names_the_os_user(node_dir: Path) -> None:
    sipoauth(node_dir, "mra-domains", "add", "Corp", "--domain", "mra.example.com")
    sipoauth(node_dir, "parameters", "set", "SIP Realm Station", "example")
    rows = as_json(node_dir, "audit", "list", "--limit", "2")
    assert [(r["action"], r["object_type"]) for r in rows] == [
        ("set", "parameter"),
        ("add", "mra-domain"),
    ]
    assert {(r["actor"], r["interface"]) for r in rows} == {(getpass.getuser(), "cli")}
    text = sipoauth(node_dir, "audit", "list").stdout
    assert "mra-domain" in text and "parameter" in text
