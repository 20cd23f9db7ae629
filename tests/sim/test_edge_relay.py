"""The edge's sans-IO parts: the SIP relay (RFC 3261 §16, RFC 3327, RFC 5626),
the ``--node`` syntax, the node selector and the edge directory.

No sockets: octets in, octets out, ``now`` passed in.
"""

from __future__ import annotations

import dataclasses
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from sipoauth.cli._edge import edge_app
from sipoauth.pki import PkiError, load_cert_pem, load_certs_pem, peer_names
from sipoauth.sim._edge_config import EdgeConfig, NodeAddress, NodeSelector
from sipoauth.sim._edge_messages import PING, PONG, RelaySettings, edge_path
from sipoauth.sim._edge_pki import EdgeFiles, init_edge_dir
from sipoauth.sim._edge_relay import BRANCH_PREFIX, SipRelay
from sipoauth.sip import Request, Response, parse_message

SETTINGS = RelaySettings(public_host="edge.example.com", public_port=5061)
PATH = "<sip:edge.example.com:5061;transport=tls;lr>"
SOURCE = ("198.51.100.7", 40000)


def relay(**overrides: object) -> SipRelay:
    settings = dataclasses.replace(SETTINGS, **overrides)  # type: ignore[arg-type]
    return SipRelay(settings, source=SOURCE, secret=b"k" * 32, new_tag=lambda: "edgetag")


def register(
    *extra: str, branch: str = "z9hG4bK-phone-1", max_forwards: str | None = "70"
) -> bytes:
    lines = [
        "REGISTER sip:localhost SIP/2.0",
        f"Via: SIP/2.0/TLS 192.0.2.10:5061;branch={branch};rport",
        *([f"Max-Forwards: {max_forwards}"] if max_forwards is not None else []),
        "From: <sip:1001@localhost>;tag=abc",
        "To: <sip:1001@localhost>",
        "Call-ID: call-1",
        "CSeq: 1 REGISTER",
        '''Contact: <sip:1001@192.0.2.10:5061;transport=tls>;+sip.instance="<urn:uuid:1>"''',
        'Proxy-Authorization: Bearer token="secret-token"',
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def one(chunks: list[bytes], *, valid: bool = True) -> Request | Response:
    assert len(chunks) == 1, chunks
    message = parse_message(chunks[0])
    if valid:
        message.validate()
    return message


def test_register_gets_via_path_require_and_max_forwards() -> None:
    r = relay()
    out = r.receive_outside(register(), now=0.0)
    assert out.to_outside == [] and not out.close
    up = one(out.to_inside)
    assert isinstance(up, Request) and up.method == "REGISTER"
    vias = up.values("via")
    assert vias[0].startswith(f"SIP/2.0/TLS edge.example.com:5061;branch={BRANCH_PREFIX}")
    # RFC 3261 §18.2.1 / RFC 3581 §4: the device's Via names where it really was
    assert vias[1] == (
        "SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK-phone-1;rport=40000;received=198.51.100.7"
    )
    assert up.get_all("path") == [PATH] == [edge_path(SETTINGS)]
    assert up.require == frozenset({"path"})
    assert up.max_forwards == 69
    assert up.get("proxy-authorization") == 'Bearer token="secret-token"'
    assert r.in_flight == 1


def test_max_forwards_added_when_absent_and_483_at_zero() -> None:
    # (RFC 2543 branch: Max-Forwards may be absent, RFC 4475 §3.4.1)
    out = relay().receive_outside(register(branch="old-style-1", max_forwards=None), now=0.0)
    assert one(out.to_inside).max_forwards == 70
    out = relay().receive_outside(register(max_forwards="0"), now=0.0)
    assert out.to_inside == []
    answer = one(out.to_outside)
    assert isinstance(answer, Response) and answer.status == 483


def test_branch_is_stable_per_transaction() -> None:
    """RFC 3261 §16.11: a retransmission gets the same branch, another transaction another."""
    r = relay()
    first = one(r.receive_outside(register(), 0.0).to_inside).top_via.branch
    again = one(r.receive_outside(register(), 0.0).to_inside).top_via.branch
    other = one(r.receive_outside(register(branch="z9hG4bK-phone-2"), 0.0).to_inside)
    assert first == again != other.top_via.branch


def test_an_existing_path_and_require_are_kept_after_the_edges() -> None:
    out = relay().receive_outside(
        register("Path: <sip:inner.example.net;lr>", "Supported: path", "Require: path"), 0.0
    )
    up = one(out.to_inside)
    assert up.get_all("path") == [PATH, "<sip:inner.example.net;lr>"]
    assert up.get_all("require") == ["path"]


def test_strict_path_support_refuses_421() -> None:
    """RFC 3327 §5.2, when asked to: a device that does not support Path gets 421."""
    out = relay(require_ua_path_support=True).receive_outside(register(), 0.0)
    answer = one(out.to_outside)
    assert isinstance(answer, Response) and answer.status == 421
    assert answer.get("require") == "path"
    out = relay(require_ua_path_support=True).receive_outside(register("Supported: path"), 0.0)
    assert one(out.to_inside).get_all("path") == [PATH]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (register().replace(b"From: <sip:1001@localhost>;tag=abc\r\n", b""), "Missing From"),
        (register().replace(b"CSeq: 1 REGISTER", b"CSeq: one REGISTER"), "Invalid CSeq"),
        (register().replace(b"To: <sip:1001@localhost>", b"To: <sip:1001@localhost"), "Invalid To"),
        (register().replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE"), "CSeq method"),
    ],
)
def test_malformed_requests_are_answered_here_and_never_forwarded(data: bytes, reason: str) -> None:
    r = relay()
    out = r.receive_outside(data, 0.0)
    assert out.to_inside == [] and not out.close
    answer = one(out.to_outside, valid=False)  # (copies what it could of the request)
    assert isinstance(answer, Response) and answer.status == 400
    assert reason in answer.reason
    assert answer.values("via") == ["SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK-phone-1;rport"]
    assert r.receive_outside(register(), 0.0).to_inside  # the connection goes on


def test_unanswerable_garbage_is_dropped_and_a_broken_length_closes() -> None:
    out = relay().receive_outside(b"hello\r\nContent-Length: 0\r\n\r\n", 0.0)
    assert (out.to_inside, out.to_outside, out.close) == ([], [], False)
    assert out.notes[0].event == "dropped"
    out = relay().receive_outside(register().replace(b"Content-Length: 0", b"Content-Length: x"), 0)
    assert out.close and out.to_inside == []
    answer = one(out.to_outside, valid=False)
    assert isinstance(answer, Response) and answer.status == 400


def test_oversized_message_is_513_and_closes() -> None:
    big = register(f"X-Padding: {'a' * 2000}")
    out = relay(max_message_size=1024).receive_outside(big, 0.0)
    assert out.close and out.to_inside == []
    assert out.notes[0].status == 513


def test_response_from_node_loses_the_edge_via() -> None:
    r = relay()
    up = one(r.receive_outside(register(), 0.0).to_inside)
    assert isinstance(up, Request)
    ok = _response_to(up, 200, "Path: " + PATH)
    down = one(r.receive_inside(ok, 0.0).to_outside)
    assert isinstance(down, Response) and down.status == 200
    assert down.values("via") == up.values("via")[1:]
    assert down.get("path") == PATH
    assert r.in_flight == 0


def test_response_not_through_this_edge_is_dropped() -> None:
    r = relay()
    up = one(r.receive_outside(register(), 0.0).to_inside)
    assert isinstance(up, Request)
    forged = _response_to(up, 200).replace(b"branch=" + BRANCH_PREFIX.encode(), b"branch=z9hG4bK-x")
    out = r.receive_inside(forged, 0.0)
    assert out.to_outside == [] and out.notes[0].event == "dropped"


def test_notify_from_node_loses_route_gets_via_and_its_200_goes_back_up() -> None:
    r = relay()
    notify = (
        "NOTIFY sip:1001@192.0.2.10:5061;transport=tls SIP/2.0\r\n"
        f"Route: {PATH}\r\n"
        "Via: SIP/2.0/TLS localhost;branch=z9hG4bKnode1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:localhost>;tag=n1\r\nTo: <sip:1001@localhost>\r\n"
        "Call-ID: n-1@localhost\r\nCSeq: 1 NOTIFY\r\n"
        "Event: check-sync;reboot=true\r\nSubscription-State: terminated;reason=noresource\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    down = one(r.receive_inside(notify, 0.0).to_outside)
    assert isinstance(down, Request) and down.method == "NOTIFY"
    assert "route" not in down.headers  # RFC 3261 §16.4: the edge's own Route value
    assert down.top_via.branch is not None and down.top_via.branch.startswith(BRANCH_PREFIX)
    assert down.values("via")[1] == "SIP/2.0/TLS localhost;branch=z9hG4bKnode1"
    assert down.max_forwards == 69 and down.get("event") == "check-sync;reboot=true"
    back = one(r.receive_outside(_response_to(down, 200), 0.0).to_inside)
    assert isinstance(back, Response) and back.status == 200
    assert back.values("via") == ["SIP/2.0/TLS localhost;branch=z9hG4bKnode1"]


def test_keepalive_ping_gets_pong_and_pings_the_node_at_most_every_interval() -> None:
    r = relay()
    out = r.receive_outside(PING, now=100.0)
    assert (out.to_outside, out.to_inside) == ([PONG], [PING])
    out = r.receive_outside(PING, now=101.0)
    assert (out.to_outside, out.to_inside) == ([PONG], [])
    assert r.receive_outside(PING, now=111.0).to_inside == [PING]


def test_node_lost_answers_pending_requests_503_and_later_ones_too() -> None:
    r = relay()
    r.receive_outside(register(), 0.0)
    out = r.upstream_lost("connection to the call-control node lost")
    assert out.close
    answer = one(out.to_outside)
    assert isinstance(answer, Response) and answer.status == 503
    assert answer.get("retry-after") == "30"
    assert answer.get("warning") == (
        '399 edge.example.com "connection to the call-control node lost"'
    )
    out = r.receive_outside(register(branch="z9hG4bK-phone-9"), 0.0)
    assert out.close and out.to_inside == []
    assert one(out.to_outside).status == 503  # type: ignore[union-attr]


def test_in_flight_limit() -> None:
    r = relay(max_in_flight=2)
    for n in range(2):
        assert r.receive_outside(register(branch=f"z9hG4bK-p{n}"), 0.0).to_inside
    out = r.receive_outside(register(branch="z9hG4bK-p3"), 0.0)
    assert out.to_inside == [] and one(out.to_outside).status == 503  # type: ignore[union-attr]


def _response_to(request: Request, status: int, *extra: str) -> bytes:
    lines = [f"SIP/2.0 {status} OK"]
    lines += [f"Via: {v}" for v in request.values("via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        lines.append(f"{name}: {request.get(name)}")
    lines += [*extra, "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cm1", NodeAddress("cm1", 5091, 8443, 6970, 6971)),
        ("cm1:15091", NodeAddress("cm1", 15091, 8443, 6970, 6971)),
        ("10.0.0.1:1:2", NodeAddress("10.0.0.1", 1, 2, 6970, 6971)),
        ("cm1:1:2:3:4", NodeAddress("cm1", 1, 2, 3, 4)),
        ("[::1]:5091", NodeAddress("::1", 5091, 8443, 6970, 6971)),
    ],
)
def test_node_syntax(text: str, expected: NodeAddress) -> None:
    assert NodeAddress.parse(text) == expected


@pytest.mark.parametrize("text", ["", ":5091", "cm1:1:2:3", "cm1:0", "cm1:x", "[::1", "[::1]x"])
def test_node_syntax_errors(text: str) -> None:
    with pytest.raises(ValueError):
        NodeAddress.parse(text)


def test_selector_tries_a_failed_node_last_for_a_while() -> None:
    a, b = NodeAddress("a"), NodeAddress("b")
    selector = NodeSelector([a, b], retry_after=30)
    assert selector.order(0) == [a, b]
    selector.failed(a, 10)
    assert selector.order(20) == [b, a]
    assert selector.order(41) == [a, b]
    selector.failed(a, 50)
    selector.succeeded(a)
    assert selector.order(51) == [a, b]


def test_config_needs_nodes_cas_and_a_usable_host(tmp_path: Path) -> None:
    base = {
        "nodes": (NodeAddress("a"),),
        "server_cert": tmp_path,
        "server_key": tmp_path,
        "client_cert": tmp_path,
        "client_key": tmp_path,
        "node_ca_files": (tmp_path,),
        "public_host": "edge.example.com",
    }
    EdgeConfig(**base)  # type: ignore[arg-type]
    for change in ({"nodes": ()}, {"node_ca_files": ()}, {"public_host": "a b"}):
        with pytest.raises(ValueError):
            EdgeConfig(**{**base, **change})  # type: ignore[arg-type]


# -- the edge directory ----------------------------------------------------------------------


def test_init_edge_dir(tmp_path: Path) -> None:
    directory = tmp_path / "edge"
    files, created = init_edge_dir(directory, "Edge.Example.com.", now=datetime.now(UTC))
    assert created and files.name == "edge.example.com"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "client.key").stat().st_mode) == 0o600
    ca = load_cert_pem(files.ca_cert.read_bytes())
    server, server_ca = load_certs_pem(files.server_cert.read_bytes())
    client, _ = load_certs_pem(files.client_cert.read_bytes())
    assert server_ca == ca and server.issuer == client.issuer == ca.subject
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"edge.example.com", "localhost"}
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert peer_names(client.public_bytes(Encoding.DER)) == {"edge.example.com"}
    # again: unchanged; another name: refused
    again, created = init_edge_dir(directory, "edge.example.com", now=datetime.now(UTC))
    assert not created and again == files == EdgeFiles.load(directory)
    with pytest.raises(PkiError, match=r"edge\.example\.com"):
        init_edge_dir(directory, "other.example.com", now=datetime.now(UTC))
    with pytest.raises(PkiError, match="not an edge directory"):
        EdgeFiles.load(tmp_path)


def test_edge_init_command_prints_the_ca_and_the_entry(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        edge_app, ["init", "--edge-dir", str(tmp_path / "e"), "--name", "edge.example.com"]
    )
    assert result.exit_code == 0, result.output
    ca = str(tmp_path / "e" / "ca.pem")
    assert f"sipoauth certificates upload phone-edge-trust {ca}" in result.output
    assert f"sipoauth certificates upload tomcat-trust {ca}" in result.output
    assert "sipoauth edges add edge.example.com --x509-name edge.example.com" in result.output
    result = runner.invoke(
        edge_app,
        ["init", "--edge-dir", str(tmp_path / "e"), "--name", "edge.example.com", "--json"],
    )
    assert json.loads(result.output)["created"] is False
    result = runner.invoke(edge_app, ["serve", "--help"])
    assert result.exit_code == 0 and "--node-ca" in result.output
