"""The top Via of a response records the source: RFC 3261 §18.2.1 (received) and
RFC 3581 §4 (rport)."""

from __future__ import annotations

import pytest

from sipoauth.sip import Request, build_response, parse_message, stamp_source
from sipoauth.sip._received import stamp_via


def request(via: str, *more_via: str) -> Request:
    lines = [f"Via: {via}", *(f"Via: {v}" for v in more_via)]
    message = parse_message(
        (
            "OPTIONS sip:cucm.example.com SIP/2.0\r\n"
            + "\r\n".join(lines)
            + "\r\nMax-Forwards: 70\r\n"
            "From: <sip:1001@example.com>;tag=a\r\n"
            "To: <sip:cucm.example.com>\r\n"
            "Call-ID: r1\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, Request)
    message.validate()
    return message


def response_vias(req: Request) -> list[str]:
    text = build_response(req, 200, to_tag="t").decode()
    return [line[5:] for line in text.split("\r\n") if line.startswith("Via: ")]


@pytest.mark.parametrize(
    ("via", "source", "expected"),
    [
        # §18.2.1: sent-by is the source address: nothing added.
        ("SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bK-1", ("198.51.100.7", 40000),
         "SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bK-1"),
        # §18.2.1: another address (a NAT): received.
        ("SIP/2.0/TLS 10.1.2.3:5061;branch=z9hG4bK-1", ("198.51.100.7", 40000),
         "SIP/2.0/TLS 10.1.2.3:5061;branch=z9hG4bK-1;received=198.51.100.7"),
        # §18.2.1: a domain name (RFC 5626 phones send .invalid): received.
        ("SIP/2.0/TLS abc.invalid;branch=z9hG4bK-1", ("198.51.100.7", 40000),
         "SIP/2.0/TLS abc.invalid;branch=z9hG4bK-1;received=198.51.100.7"),
        # RFC 3581 §4: rport without a value gets the source port, and received
        # is added even though the address is the sent-by's.
        ("SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bK-1;rport", ("198.51.100.7", 40000),
         "SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bK-1;rport=40000;received=198.51.100.7"),
        ("SIP/2.0/TLS 10.1.2.3;RPort ;branch=z9hG4bK-1", ("198.51.100.7", 40000),
         "SIP/2.0/TLS 10.1.2.3;rport=40000 ;branch=z9hG4bK-1;received=198.51.100.7"),
        # An rport that has a value is the peer's business; only received is added.
        ("SIP/2.0/TLS 10.1.2.3;rport=5061;branch=z9hG4bK-1", ("198.51.100.7", 40000),
         "SIP/2.0/TLS 10.1.2.3;rport=5061;branch=z9hG4bK-1;received=198.51.100.7"),
        # A received the peer wrote itself is corrected, not repeated.
        ("SIP/2.0/TLS 10.1.2.3;received=192.0.2.1;branch=z9hG4bK-1", ("198.51.100.7", 40000),
         "SIP/2.0/TLS 10.1.2.3;received=198.51.100.7;branch=z9hG4bK-1"),
        # IPv6: the sent-by in brackets is the source; received takes no brackets.
        ("SIP/2.0/TLS [2001:db8::7]:5061;branch=z9hG4bK-1", ("2001:db8::7", 40000),
         "SIP/2.0/TLS [2001:db8::7]:5061;branch=z9hG4bK-1"),
        ("SIP/2.0/TLS [2001:db8::9];branch=z9hG4bK-1", ("2001:db8::7", 40000),
         "SIP/2.0/TLS [2001:db8::9];branch=z9hG4bK-1;received=2001:db8::7"),
    ],
)  # fmt: skip
def test_rfc3261_s18_2_1_and_rfc3581_s4_top_via_of_the_response(via, source, expected) -> None:
    req = request(via)
    stamp_source(req, *source)
    assert response_vias(req) == [expected]
    assert req.headers["via"] == [via]  # the request keeps what arrived (matching, cache)


def test_rfc3261_s18_2_1_only_the_top_via_value_changes() -> None:
    """Several Via values on one line and on further lines: only the first gains received."""
    req = request(
        "SIP/2.0/TLS edge.example.com;branch=z9hG4bK-e, SIP/2.0/TLS 10.1.2.3;branch=z9hG4bK-p",
        "SIP/2.0/TLS 10.9.9.9;branch=z9hG4bK-q",
    )
    stamp_source(req, "203.0.113.5", 7001)
    assert response_vias(req) == [
        "SIP/2.0/TLS edge.example.com;branch=z9hG4bK-e;received=203.0.113.5, "
        "SIP/2.0/TLS 10.1.2.3;branch=z9hG4bK-p",
        "SIP/2.0/TLS 10.9.9.9;branch=z9hG4bK-q",
    ]


def test_without_a_source_the_response_copies_the_via() -> None:
    req = request("SIP/2.0/TLS abc.invalid;branch=z9hG4bK-1;rport")
    assert response_vias(req) == ["SIP/2.0/TLS abc.invalid;branch=z9hG4bK-1;rport"]


def test_a_top_via_that_does_not_parse_is_copied_as_it_came() -> None:
    """The 400 for a broken Via still has to copy it: stamping leaves it alone."""
    message = parse_message(
        b"OPTIONS sip:cucm.example.com SIP/2.0\r\nVia: SIP/2.0/TLS ;;;\r\n"
        b"From: <sip:1001@example.com>;tag=a\r\nTo: <sip:cucm.example.com>\r\n"
        b"Call-ID: r1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(message, Request)
    stamp_source(message, "198.51.100.7", 40000)
    assert message.response_via is None
    assert response_vias(message) == ["SIP/2.0/TLS ;;;"]


def test_an_rport_spelled_past_the_in_place_edit_is_rebuilt_from_the_parsed_via() -> None:
    """When the raw text cannot be edited in place, the parsed Via is written out
    with rport and received set (names lowercased, values as sent)."""
    req = request("SIP/2.0/TLS 10.1.2.3:5061;branch=z9hG4bK-1;rport")
    stamped = stamp_via("SIP/2.0/TLS 10.1.2.3:5061", req.top_via, "198.51.100.7", 40000)
    assert stamped == (
        "SIP/2.0/TLS 10.1.2.3:5061;branch=z9hG4bK-1;rport=40000;received=198.51.100.7"
    )
