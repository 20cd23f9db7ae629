"""build_response (RFC 3261 §8.2.6) and serialize_request."""

from __future__ import annotations

import pytest
from sip_torture import load

from sipoauth.sip import (
    REASON_PHRASES,
    LocalProtocolError,
    Request,
    Response,
    build_response,
    parse_message,
    serialize_request,
)

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKa;rport, SIP/2.0/TLS edge;branch=z9hG4bKb\r\n"
    b"v: SIP/2.0/TCP  proxy.example ;branch=z9hG4bKc\r\n"
    b'From: "Alice" <sip:alice@example.com>;tag=f1\r\n'
    b"To: <sip:alice@example.com>\r\n"
    b"i: c1@192.0.2.1\r\n"
    b"CSeq: 7 REGISTER\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def request(data: bytes = REGISTER) -> Request:
    m = parse_message(data)
    assert isinstance(m, Request)
    return m


def response(data: bytes) -> Response:
    m = parse_message(data)
    assert isinstance(m, Response)
    m.validate()
    return m


def test_copies_via_from_to_call_id_cseq_and_adds_to_tag() -> None:
    """RFC 3261 §8.2.6.2: Via (all, in order), From, To (+tag), Call-ID, CSeq copied."""
    data = build_response(
        request(), 200, headers=[("Contact", "<sip:a@h>;expires=60"), ("Expires", "60")],
        to_tag="t9",
    )  # fmt: skip
    assert data == (
        b"SIP/2.0 200 OK\r\n"
        b"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKa;rport, "
        b"SIP/2.0/TLS edge;branch=z9hG4bKb\r\n"
        b"Via: SIP/2.0/TCP  proxy.example ;branch=z9hG4bKc\r\n"
        b'From: "Alice" <sip:alice@example.com>;tag=f1\r\n'
        b"To: <sip:alice@example.com>;tag=t9\r\n"
        b"Call-ID: c1@192.0.2.1\r\n"
        b"CSeq: 7 REGISTER\r\n"
        b"Contact: <sip:a@h>;expires=60\r\n"
        b"Expires: 60\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    r = response(data)
    assert [v.branch for v in r.via] == ["z9hG4bKa", "z9hG4bKb", "z9hG4bKc"]
    assert r.to.tag == "t9" and r.from_.tag == "f1"


def test_existing_to_tag_is_kept_and_100_gets_none() -> None:
    """RFC 3261 §8.2.6.2: no tag on 100 Trying; an existing To tag is not replaced."""
    assert b"To: <sip:alice@example.com>\r\n" in build_response(request(), 100, to_tag="t")
    tagged = request(REGISTER.replace(b"To: <sip:alice@example.com>", b"To: <sip:a@h>;tag=x"))
    assert b"To: <sip:a@h>;tag=x\r\n" in build_response(tagged, 486, to_tag="t")


def test_reason_phrases() -> None:
    for status in (100, 200, 400, 401, 403, 405, 407, 415, 416, 420, 421, 423, 429, 494, 503,
                   505, 513, 603):  # fmt: skip
        r = response(build_response(request(), status))
        assert r.reason == REASON_PHRASES[status] and r.status == status
    assert response(build_response(request(), 499)).reason == "Bad Request"  # class default
    assert response(build_response(request(), 403, "SIP OAuth Registration port Mismatch")).reason


def test_body_and_content_length() -> None:
    data = build_response(request(), 200, headers=[("Content-Type", "text/plain")], body=b"hi")
    assert data.endswith(b"Content-Length: 2\r\n\r\nhi")
    assert response(data).body == b"hi"


def test_bad_input_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        build_response(request(), 99)
    with pytest.raises(LocalProtocolError):
        build_response(request(), 200, "OK\r\nX: y")
    with pytest.raises(LocalProtocolError):
        build_response(request(), 200, headers=[("X", "a\r\nInjected: yes")])
    with pytest.raises(LocalProtocolError):
        build_response(request(), 200, headers=[("X:Y", "a")])


def test_response_to_a_request_missing_headers() -> None:
    """A 400 to RFC 4475 insuf copies what is there."""
    m = request(load("insuf"))
    data = build_response(m, 400, "Missing To header", to_tag="x")
    assert data.startswith(b"SIP/2.0 400 Missing To header\r\nVia: SIP/2.0/UDP 192.0.2.95")
    assert b"CSeq: 193942 INVITE\r\n" in data and b"To:" not in data


def test_response_to_an_unparseable_to_copies_it() -> None:
    m = request(load("quotbal"))
    data = build_response(m, 400, to_tag="x")
    assert b'To: "Mr. J. User <sip:j.user@example.com>\r\n' in data


def test_serialize_request() -> None:
    data = serialize_request(
        "NOTIFY",
        "sip:8a7b@192.0.2.5:51234;transport=tls",
        [
            ("Via", "SIP/2.0/TLS node.example:5090;branch=z9hG4bKn1"),
            ("From", "<sip:node.example>;tag=n"),
            ("To", "<sip:1001@node.example>"),
            ("Call-ID", "n1"),
            ("CSeq", "1 NOTIFY"),
            ("Max-Forwards", "70"),
            ("Event", "check-sync"),
            ("Content-Length", "999"),
        ],
    )
    m = request(data)
    m.validate()
    assert m.method == "NOTIFY" and m.get("event") == "check-sync"
    assert m.get_all("content-length") == ["0"]
    with pytest.raises(LocalProtocolError):
        serialize_request("NOT IFY", "sip:a@b", [])
    with pytest.raises(LocalProtocolError):
        serialize_request("NOTIFY", "sip:a@b c", [])
