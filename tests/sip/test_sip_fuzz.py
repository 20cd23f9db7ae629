"""Fuzzing: random and mutated input only ever raises SipError, and the framer
never holds more than max_message_size octets while waiting for more."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sip_torture import ALL_NAMES, load

from sipoauth.sip import (
    FramedMessage,
    FramingError,
    Request,
    ServerTransactions,
    SipError,
    StreamFramer,
    build_response,
    inspect_request,
    parse_head,
    parse_message,
)
from sipoauth.sip._abnf import REASON_RE

MAX = 4096
ACCESSORS = [
    "via", "top_via", "from_", "to", "call_id", "cseq", "contacts", "expires", "min_expires",
    "max_forwards", "content_length", "content_type", "authorization", "proxy_authorization",
    "path", "route", "record_route", "supported", "require", "proxy_require", "unsupported",
    "allow", "accept", "content_encoding", "accept_encoding", "request_uri",
]  # fmt: skip
UAS = {
    "allowed_methods": frozenset({"REGISTER", "OPTIONS", "INVITE"}),
    "known_methods": frozenset({"REGISTER", "OPTIONS", "INVITE", "ACK", "BYE", "CANCEL"}),
    "supported_options": frozenset({"path"}),
    "accepted_body_types": {"INVITE": frozenset({"application/sdp"})},
}
TORTURE = [load(name) for name in ALL_NAMES]
SPECIAL = [
    *(bytes([c]) for c in b':;,<>"\\% \t\x00\xff\xc3=@[]?/*\r\n'),
    *(b"\r\n", b"\r\n ", b"\r\n\r\n", b"%4", b"l: 5\r\n", b"Content-Length: 99\r\n"),
    *(b"sip:", b"z9hG4bK"),
]


def check_error(error: SipError) -> None:
    """What a caller would answer with: a 4xx/5xx and a grammatical reason phrase."""
    assert 400 <= error.status <= 599
    assert REASON_RE.fullmatch(error.reason), error.reason


def exercise(data: bytes) -> None:
    """Everything the node does with a message; only SipError may escape."""
    try:
        message = parse_message(data)
    except SipError as error:
        check_error(error)
        return
    try:
        message.validate()
    except SipError as error:
        check_error(error)
        if isinstance(message, Request):
            build_response(message, error.status, error.reason, to_tag="t")
    for name in ACCESSORS:
        try:
            getattr(message, name)
        except AttributeError:
            assert name == "request_uri"  # responses have none
        except SipError as error:
            check_error(error)
    if isinstance(message, Request):
        with contextlib.suppress(SipError):
            ServerTransactions.key(message)
        with contextlib.suppress(SipError):
            inspect_request(message, **UAS, to_tag="t")  # type: ignore[arg-type]
        build_response(message, 400, to_tag="t")


def frame(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer(max_message_size=MAX, max_header_lines=64)
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for piece in pieces:
        framer.receive_data(piece)
        while True:
            event = framer.next_event()
            if event is None:
                assert framer.buffered <= MAX
                break
            if isinstance(event, FramedMessage):
                assert len(event.data) <= MAX
                exercise(event.data)
            elif isinstance(event, FramingError) and event.head is not None:
                try:
                    head = parse_head(event.head)
                except SipError:
                    continue
                if isinstance(head, Request):
                    build_response(head, event.status, event.reason)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(TORTURE)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "replace", "delete", "dup", "byte"]))
        if action == "insert":
            data[pos:pos] = draw(st.sampled_from(SPECIAL))
        elif action == "replace":
            data[pos : pos + draw(st.integers(1, 4))] = draw(st.sampled_from(SPECIAL))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif action == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 80))]
        else:
            data[pos : pos + 1] = bytes([draw(st.integers(0, 255))])
    return bytes(data)


def cuts_for(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=8).map(sorted)


@given(st.data())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_mutated_torture_messages(data: st.DataObject) -> None:
    message = data.draw(mutated())
    exercise(message)
    frame(message + data.draw(st.sampled_from(TORTURE)), data.draw(cuts_for(message)))


@given(st.binary(max_size=1500), st.lists(st.integers(0, 1500), max_size=6).map(sorted))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes(data: bytes, cuts: list[int]) -> None:
    exercise(data)
    frame(data, [min(c, len(data)) for c in cuts])


@given(st.lists(st.sampled_from([*SPECIAL, b"Via", b"To", b"SIP/2.0", b"a", b"1"]), max_size=80))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_token_soup(parts: list[bytes]) -> None:
    body = b"".join(parts)
    head = b"REGISTER sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\n"
    for name in (b"To: ", b"Contact: ", b"Via: ", b"Authorization: Bearer ", b"Supported: "):
        exercise(head + name + body + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "line",
    [
        "To: <sip:" + "a." * 20000 + "1>",
        "Contact: " + "<sip:a@b>, " * 3000,
        "Via: SIP/2.0/TLS h" + ";x" * 10000,
        "From: " + "a " * 20000 + "<sip:a@b>",
        'Authorization: Bearer token="' + "x" * 50000,
        "Supported: " + "a," * 20000,
        "To: " + '"\\' * 20000,
        "Retry-After: 1 " + "(" * 20000,
        "Subject: x" + "\r\n y" * 10000,
        "To: sip:" + "%25" * 15000 + "@h",
    ],
    ids=lambda line: line[:16],
)
def test_long_adversarial_values_are_rejected_or_accepted_quickly(line: str) -> None:
    """No pattern backtracks super-linearly on 64 KiB of hostile input."""
    data = f"REGISTER sip:a SIP/2.0\r\n{line}\r\nContent-Length: 0\r\n\r\n".encode()
    exercise(data)


KNOWN_HEADERS = [
    "To", "From", "Contact", "Via", "Route", "Path", "CSeq", "Call-ID", "Expires", "Date",
    "Authorization", "Proxy-Authorization", "Supported", "Require", "Accept", "Content-Type",
    "Retry-After", "Warning", "Allow", "Accept-Encoding", "Content-Encoding", "Max-Forwards",
]  # fmt: skip


@given(
    st.sampled_from(KNOWN_HEADERS),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60),
)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_values_of_known_headers(name: str, value: str) -> None:
    head = "REGISTER sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\n"
    exercise(f"{head}{name}: {value}\r\nContent-Length: 0\r\n\r\n".encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "line",
    [
        "Max-Forwards: " + "0" * 5000 + "1",
        "Expires: " + "0" * 5000 + "1",
        "CSeq: " + "0" * 5000 + "1 REGISTER",
        "Contact: <sip:a@b>;expires=" + "0" * 5000 + "1",
        "Content-Length: " + "0" * 5000,
        "Retry-After: " + "0" * 5000 + "1",
    ],
    ids=lambda line: line.partition(":")[0],
)
def test_numbers_with_thousands_of_leading_zeros(line: str) -> None:
    """int() refuses strings over 4300 digits: leading zeros must not reach it."""
    head = "REGISTER sip:a SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\n"
    data = f"{head}{line}\r\n\r\n".encode()
    exercise(data)
    frame(data, [])
    frame(data.replace(b"Max-Forwards: ", b"Content-Length: "), [])
