"""The node's PKI directory: created once, reused unchanged, never silently replaced."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from pki_support import FIXED_NOW

from sipoauth.pki import (
    NodePki,
    PkiError,
    cert_to_pem,
    generate_ca,
    issue_server_certificate,
    key_to_pem,
    load_certs_pem,
    load_key_pem,
)

FILES = ("ca.pem", "ca.key", "tomcat.pem", "tomcat.key")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_first_start_creates_everything(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    pki, created = NodePki.load_or_create(directory, hostname="cucm-pub", now=FIXED_NOW)
    assert created
    assert sorted(p.name for p in directory.iterdir()) == sorted(FILES)  # no temp files left
    assert mode(directory) == 0o700
    assert mode(directory / "ca.key") == 0o600
    assert mode(directory / "tomcat.key") == 0o600
    assert mode(directory / "ca.pem") == 0o644
    assert pki.key_file_problems() == []
    assert pki.web_cert_path == pki.web_chain_path == directory / "tomcat.pem"
    assert pki.web_key_path == directory / "tomcat.key"
    assert pki.ca_cert_path == directory / "ca.pem"
    assert pki.ca_key_path == directory / "ca.key"
    # tomcat.pem is the chain: leaf, then CA.
    chain = load_certs_pem((directory / "tomcat.pem").read_bytes())
    assert chain == [pki.web_cert, pki.ca_cert]
    assert pki.web_chain == tuple(chain)
    assert pki.web_chain_pem == (directory / "tomcat.pem").read_bytes()
    assert pki.ca_cert_pem == (directory / "ca.pem").read_bytes()
    assert pki.ca_key is not None
    assert load_key_pem((directory / "tomcat.key").read_bytes()).public_key() == (
        pki.web_key.public_key()
    )
    san = pki.web_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["cucm-pub", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert pki.web_cert_problems(FIXED_NOW) == []


def test_second_start_reuses_files_unchanged(tmp_path: Path) -> None:
    first, created = NodePki.load_or_create(tmp_path, hostname="cucm-pub", now=FIXED_NOW)
    before = snapshot(tmp_path)
    later = FIXED_NOW + timedelta(days=400)
    second, created_again = NodePki.load_or_create(tmp_path, hostname="cucm-pub", now=later)
    assert created and not created_again
    assert snapshot(tmp_path) == before
    assert second.web_cert == first.web_cert
    assert second.ca_cert == first.ca_cert


def test_ip_hostname_goes_into_ip_sans(tmp_path: Path) -> None:
    pki, _ = NodePki.load_or_create(tmp_path, hostname="192.0.2.10", now=FIXED_NOW)
    san = pki.web_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert "192.0.2.10" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert pki.web_cert_problems(FIXED_NOW) == []


def test_interrupted_first_start_is_completed_without_losing_keys(tmp_path: Path) -> None:
    """A crash after ca.key (or tomcat.key) was written: the key is kept."""
    pki, _ = NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    ca_key = (tmp_path / "ca.key").read_bytes()
    web_key = (tmp_path / "tomcat.key").read_bytes()
    for name in ("ca.pem", "tomcat.pem"):
        (tmp_path / name).unlink()
    again, created = NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    assert created
    assert (tmp_path / "ca.key").read_bytes() == ca_key
    assert (tmp_path / "tomcat.key").read_bytes() == web_key
    assert again.ca_cert.public_key() == pki.ca_cert.public_key()
    assert again.web_cert.public_key() == pki.web_cert.public_key()
    assert again.web_cert_problems(FIXED_NOW) == []


def test_ca_without_web_issues_web(tmp_path: Path) -> None:
    NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    ca_files = {n: (tmp_path / n).read_bytes() for n in ("ca.pem", "ca.key")}
    for name in ("tomcat.pem", "tomcat.key"):
        (tmp_path / name).unlink()
    pki, created = NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    assert created
    assert {n: (tmp_path / n).read_bytes() for n in ca_files} == ca_files
    assert pki.web_cert_problems(FIXED_NOW) == []


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        (("tomcat.key",), r"tomcat\.key is missing"),
        (("ca.pem",), r"ca\.pem is missing"),
        (("ca.key", "tomcat.pem"), r"ca\.key is not there"),
    ],
)
def test_what_cannot_be_completed_is_an_error(
    tmp_path: Path, remove: tuple[str, ...], message: str
) -> None:
    NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    for name in remove:
        (tmp_path / name).unlink()
    before = snapshot(tmp_path)
    with pytest.raises(PkiError, match=message):
        NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    assert snapshot(tmp_path) == before


def test_mismatched_or_corrupt_files_are_errors(tmp_path: Path) -> None:
    NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    good = (tmp_path / "tomcat.key").read_bytes()
    (tmp_path / "tomcat.key").write_bytes((tmp_path / "ca.key").read_bytes())
    with pytest.raises(PkiError, match=r"tomcat\.key does not belong"):
        NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    (tmp_path / "tomcat.key").write_bytes(b"garbage")
    with pytest.raises(PkiError, match=r"tomcat\.key"):
        NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    (tmp_path / "tomcat.key").write_bytes(good)
    other_ca, _ = generate_ca("other", now=FIXED_NOW)
    (tmp_path / "ca.pem").write_bytes(cert_to_pem(other_ca))
    with pytest.raises(PkiError, match=r"ca\.key does not belong"):
        NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)


def test_expiry_problems_reported_not_fixed(tmp_path: Path) -> None:
    pki, _ = NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    before = snapshot(tmp_path)
    end = pki.web_cert.not_valid_after_utc
    assert pki.web_cert_problems(end - timedelta(days=31)) == []
    (near,) = pki.web_cert_problems(end - timedelta(days=10))
    assert "expires in 9 days" in near or "expires in 10 days" in near
    (expired,) = pki.web_cert_problems(end + timedelta(seconds=1))
    assert "expired" in expired
    (early,) = pki.web_cert_problems(FIXED_NOW - timedelta(days=1))
    assert "not valid before" in early
    again, created = NodePki.load_or_create(tmp_path, hostname="h", now=end + timedelta(days=1))
    assert not created and snapshot(tmp_path) == before
    assert again.web_cert == pki.web_cert


def test_hostname_problem(tmp_path: Path) -> None:
    NodePki.load_or_create(tmp_path, hostname="old-name", now=FIXED_NOW)
    pki, created = NodePki.load_or_create(tmp_path, hostname="new-name", now=FIXED_NOW)
    assert not created
    assert pki.web_cert_problems(FIXED_NOW) == [
        "web certificate does not name this host (new-name)"
    ]


def test_external_ca_web_certificate(tmp_path: Path) -> None:
    """An operator-installed certificate from another CA; our ca.key removed."""
    NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    ext_ca, ext_key = generate_ca("Enterprise CA", now=FIXED_NOW)
    cert, key = issue_server_certificate(
        ext_ca, ext_key, common_name="h", dns_names=["h"], ip_addresses=[], now=FIXED_NOW
    )
    (tmp_path / "ca.key").unlink()
    (tmp_path / "tomcat.pem").write_bytes(cert_to_pem(cert) + cert_to_pem(ext_ca))
    (tmp_path / "tomcat.key").write_bytes(key_to_pem(key))
    pki, _ = NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    assert pki.ca_key is None
    assert pki.web_cert_problems(FIXED_NOW) == ["web certificate is not signed by ca.pem"]
    (tmp_path / "ca.pem").write_bytes(cert_to_pem(ext_ca))
    pki, _ = NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    assert pki.web_cert_problems(FIXED_NOW) == []


def test_key_file_problems(tmp_path: Path) -> None:
    pki, _ = NodePki.load_or_create(tmp_path, hostname="h", now=FIXED_NOW)
    os.chmod(tmp_path / "tomcat.key", 0o644)
    assert pki.key_file_problems() == ["tomcat.key is accessible to others (mode 0644, want 0600)"]
