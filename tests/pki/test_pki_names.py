"""Peer names and edge matching (R6; RFC 6125 §6.4 name matching rules)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki_support import CA, FIXED_NOW

from sipoauth.pki import (
    EdgeEntry,
    PkiError,
    host_matches,
    issue_client_certificate,
    issue_server_certificate,
    match_edge,
    peer_names,
)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def entry(*names: str, address: str = "", description: str = "edge") -> EdgeEntry:
    return EdgeEntry(address=address, description=description, x509_names=names, domain=None)


def test_peer_names(node_ca: CA) -> None:
    cert, _ = issue_server_certificate(
        *node_ca,
        common_name="ExpC-1.Example.COM",
        dns_names=["expc-1.example.com", "EXPC.example.com."],
        ip_addresses=["192.0.2.7", "2001:DB8:0:0::7"],
        now=FIXED_NOW,
    )
    assert peer_names(der(cert)) == frozenset(
        {"expc-1.example.com", "expc.example.com", "192.0.2.7", "2001:db8::7"}
    )


def test_peer_names_without_san(node_ca: CA) -> None:
    cert, _ = issue_client_certificate(*node_ca, common_name="Edge.Example.com.", now=FIXED_NOW)
    assert peer_names(der(cert)) == frozenset({"edge.example.com"})


def test_peer_names_garbage() -> None:
    with pytest.raises(PkiError):
        peer_names(b"\x30\x03\x02\x01\x00")


EXPC = entry("expc.example.com", address="192.0.2.7", description="exp-c")


@pytest.mark.parametrize(
    ("names", "entries", "expected"),
    [
        ({"expc.example.com"}, [EXPC], EXPC),
        ({"EXPC.Example.Com"}, [EXPC], EXPC),  # case-insensitive
        ({"expc.example.com."}, [EXPC], EXPC),  # trailing dot on the peer's name
        ({"expc.example.com"}, [entry("EXPC.example.com.")], "first"),  # ... or the entry's
        ({"192.0.2.7"}, [EXPC], EXPC),  # the entry's address
        ({"2001:db8::7"}, [entry("2001:DB8:0:0:0:0:0:7")], "first"),  # IPs by value
        ({"other.example.com"}, [EXPC], None),
        ({"a.example.com"}, [entry("*.example.com")], "first"),
        ({"A.EXAMPLE.COM."}, [entry("*.Example.com")], "first"),
        ({"a.b.example.com"}, [entry("*.example.com")], None),  # one label only
        ({"example.com"}, [entry("*.example.com")], None),
        ({"foo.com"}, [entry("*.com")], None),  # not directly under one label
        ({"1.2.3.4"}, [entry("*.2.3.4")], None),  # never for IP addresses
        ({"fooexample.com"}, [entry("*.example.com")], None),
        ({"a.example.com"}, [entry("a*.example.com")], None),  # partial-label wildcards unsupported
        ({"a.example.com"}, [entry("*.*.com")], None),
        ({"*.example.com"}, [entry("*.example.com")], None),  # peer wildcards never match
        ({"*.example.com"}, [entry("a.example.com")], None),
        ({""}, [entry("", address="")], None),  # never on an empty name
        ({"."}, [entry(".")], None),
        (set(), [EXPC], None),
        ({"expc.example.com"}, [], None),
    ],
)
def test_match_edge(
    names: set[str], entries: list[EdgeEntry], expected: EdgeEntry | str | None
) -> None:
    want = entries[0] if expected == "first" else expected
    assert match_edge(frozenset(names), entries) == want


def test_match_edge_first_entry_wins() -> None:
    a = entry("*.example.com", description="a")
    b = entry("expc.example.com", description="b")
    assert match_edge(frozenset({"expc.example.com"}), [a, b]) is a
    assert match_edge(frozenset({"expc.example.com"}), [b, a]) is b


def test_match_edge_with_a_real_certificate(node_ca: CA) -> None:
    cert, _ = issue_client_certificate(
        *node_ca, common_name="expc", dns_names=["expc.corp.example"], now=FIXED_NOW
    )
    entries = [entry("vcs.example.com"), entry("*.corp.example", description="corp edges")]
    found = match_edge(peer_names(der(cert)), entries)
    assert found is not None and found.description == "corp edges"


def test_host_matches() -> None:
    assert host_matches(["cucm.example.com", "localhost"], "CUCM.example.com.")
    assert host_matches(["*.example.com"], "cucm.example.com")
    assert host_matches(["::1"], "0:0:0:0:0:0:0:1")
    assert not host_matches(["localhost"], "cucm")
