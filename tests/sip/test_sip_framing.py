"""Stream framing: RFC 3261 §18.3 (Content-Length), RFC 5626 §4.4.1 (keep-alive)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sip_torture import ALL_NAMES, load

from sipoauth.sip import (
    FramedMessage,
    FramingError,
    KeepAlivePing,
    RemoteProtocolError,
    Request,
    Response,
    StreamFramer,
    build_response,
    parse_head,
    parse_message,
)

Event = FramedMessage | KeepAlivePing | FramingError


def drain(framer: StreamFramer) -> list[Event]:
    events: list[Event] = []
    while (event := framer.next_event()) is not None:
        events.append(event)
    return events


def feed(data: bytes, chunk: int | None = None, **kw: int) -> list[Event]:
    framer = StreamFramer(**kw)
    if chunk is None:
        framer.receive_data(data)
        return drain(framer)
    events: list[Event] = []
    for i in range(0, len(data), chunk):
        framer.receive_data(data[i : i + chunk])
        events += drain(framer)
    return events


MSG = (
    b"OPTIONS sip:node.example SIP/2.0\r\n"
    b"Via: SIP/2.0/TLS 192.0.2.1;branch=z9hG4bK1\r\n"
    b"From: <sip:a@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
    b"Max-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_torture_messages_frame_the_same_byte_by_byte_and_in_one_chunk(name: str) -> None:
    """Each RFC 4475 message: identical events whatever the TCP segmentation."""
    data = load(name)
    whole = feed(data)
    assert feed(data, 1) == whole
    assert feed(data, 7) == whole
    for event in whole:
        if isinstance(event, FramedMessage):
            assert data.find(event.data) >= 0  # octets delivered unchanged


def test_framed_torture_messages_and_their_verdicts() -> None:
    """What the framer makes of the RFC 4475 messages on a stream."""
    kinds = {name: [type(e).__name__ for e in feed(load(name))] for name in ALL_NAMES}
    assert kinds["wsinv"] == ["FramedMessage"]
    assert kinds["dblreq"] == ["FramedMessage", "FramedMessage", "FramingError"]
    assert kinds["inv2543"] == ["FramingError"]  # no Content-Length on a stream
    assert kinds["ncl"] == ["FramingError"]  # negative
    assert kinds["mcl01"] == ["FramingError"]  # differing values
    assert kinds["clerr"] == []  # waits for 9999 octets
    assert kinds["baddn"] == []  # the file has no empty line: waits


def test_dblreq_first_message_is_delivered_intact() -> None:
    """RFC 4475 §3.1.1.8 on a stream: the REGISTER, then the INVITE as the next message."""
    data = load("dblreq")
    first, second, junk = feed(data)
    assert isinstance(first, FramedMessage) and first.data == data[:300]
    register = parse_message(first.data)
    assert isinstance(register, Request) and register.method == "REGISTER"
    register.validate()
    assert isinstance(second, FramedMessage)
    assert parse_message(second.data).cseq.method == "INVITE"
    assert isinstance(junk, FramingError) and junk.close


def test_pipelined_messages() -> None:
    events = feed(MSG * 3, 13)
    assert events == [FramedMessage(MSG)] * 3


def test_keepalive_ping_and_lone_crlf() -> None:
    """RFC 5626 §4.4.1: CRLFCRLF is a ping (answer CRLF); RFC 3261 §7.5: lone CRLF skipped."""
    assert feed(b"\r\n\r\n") == [KeepAlivePing(pong_needed=True)]
    assert feed(b"\r\n\r\n\r\n\r\n" + MSG) == [KeepAlivePing(), KeepAlivePing(), FramedMessage(MSG)]
    assert feed(b"\r\n" + MSG) == [FramedMessage(MSG)]
    assert feed(MSG + b"\r\n\r\n" + MSG, 1) == [
        FramedMessage(MSG),
        KeepAlivePing(),
        FramedMessage(MSG),
    ]
    framer = StreamFramer()
    framer.receive_data(b"\r\n")
    assert framer.next_event() is None  # could still become a ping
    framer.receive_data(b"\r")
    assert framer.next_event() is None
    framer.receive_data(b"\n")
    assert framer.next_event() == KeepAlivePing()


def test_invalid_but_framed_message_does_not_stop_the_stream() -> None:
    """A bad header is the parser's 400; the connection goes on with the next message."""
    data = load("badaspec") + load("wsinv")
    events = feed(data, 5)
    assert len(events) == 2 and all(isinstance(e, FramedMessage) for e in events)
    with pytest.raises(RemoteProtocolError):
        parse_message(events[0].data).validate()  # type: ignore[union-attr]
    parse_message(events[1].data).validate()  # type: ignore[union-attr]


def test_identical_repeated_content_length_frames_then_fails_parsing() -> None:
    doubled = MSG.replace(b"Content-Length: 5\r\n", b"Content-Length: 5\r\nl: 5\r\n")
    events = feed(doubled + MSG)
    assert events == [FramedMessage(doubled), FramedMessage(MSG)]
    with pytest.raises(RemoteProtocolError, match="Multiple Content-Length"):
        parse_message(doubled)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"", "Missing Content-Length"),
        (b"Content-Length: -1\r\n", "Invalid Content-Length"),
        (b"Content-Length: abc\r\n", "Invalid Content-Length"),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", "Conflicting"),
    ],
)
def test_unframeable_request_can_be_answered_then_closed(header: bytes, reason: str) -> None:
    """RFC 3261 §18.3: a stream message must carry a usable Content-Length."""
    data = MSG.replace(b"Content-Length: 5\r\n", header) + MSG
    [error] = feed(data)
    assert isinstance(error, FramingError)
    assert error.status == 400 and reason in error.reason
    assert error.close and error.answerable and error.head is not None
    request = parse_head(error.head)
    assert isinstance(request, Request)
    answer = parse_message(build_response(request, error.status, error.reason, to_tag="x"))
    assert isinstance(answer, Response) and answer.status == 400 and answer.cseq.seq == 1
    assert error.response is not None  # the same, ready-made (no To tag)
    ready = parse_message(error.response)
    assert isinstance(ready, Response) and ready.status == 400 and ready.to.tag is None
    tagged = parse_message(error.respond(to_tag="t1") or b"")
    assert tagged.to.tag == "t1"


def test_framing_error_response_when_the_start_line_is_bad_too() -> None:
    """RFC 4475 badvers without Content-Length on a stream: still answerable (505 head)."""
    data = load("badvers").replace(b"l: 0\r\n", b"")
    [error] = feed(data)
    assert isinstance(error, FramingError) and error.response is not None
    answer = parse_message(error.response)
    assert isinstance(answer, Response) and answer.status == 400


def test_framing_error_without_response() -> None:
    """No answer to an unknown head or to a response's head."""
    framer = StreamFramer(max_message_size=100)
    framer.receive_data(b"x" * 200)
    error = framer.next_event()
    assert isinstance(error, FramingError) and error.response is None
    [error] = feed(b"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n")
    assert isinstance(error, FramingError) and error.answerable and error.response is None


def test_folded_and_compact_content_length() -> None:
    for header in (b"l: 5\r\n", b"Content-Length:\r\n 5\r\n", b"CONTENT-LENGTH \t: 5\r\n"):
        data = MSG.replace(b"Content-Length: 5\r\n", header)
        assert feed(data, 3) == [FramedMessage(data)]
    # Location: / Content-Length-X: are other headers
    data = MSG.replace(b"Max-Forwards", b"Location: x\r\nContent-Length-X: 9\r\nMax-Forwards")
    assert feed(data) == [FramedMessage(data)]


def test_oversize_head_is_513_without_head() -> None:
    framer = StreamFramer(max_message_size=1000)
    framer.receive_data(b"OPTIONS sip:a SIP/2.0\r\nX: " + b"x" * 2000)
    event = framer.next_event()
    assert isinstance(event, FramingError) and event.status == 513 and not event.answerable
    assert framer.closed and framer.buffered == 0
    framer.receive_data(MSG)
    assert framer.next_event() is None  # nothing more after a framing error


def test_oversize_body_is_513_with_head() -> None:
    data = MSG.replace(b"Content-Length: 5", b"Content-Length: 70000")
    [event] = feed(data)
    assert isinstance(event, FramingError) and event.status == 513 and event.answerable


def test_too_many_header_lines() -> None:
    data = MSG.replace(b"Max-Forwards", b"X: 1\r\n" * 20 + b"Max-Forwards")
    [event] = feed(data, max_header_lines=20)
    assert isinstance(event, FramingError) and event.status == 513
    assert feed(data, max_header_lines=40) == [FramedMessage(data)]


def test_buffer_stays_bounded_while_waiting() -> None:
    framer = StreamFramer(max_message_size=2000)
    framer.receive_data(MSG.replace(b"Content-Length: 5", b"Content-Length: 1500")[:-5])
    for _ in range(14):
        framer.receive_data(b"x" * 100)
        assert framer.next_event() is None
        assert framer.buffered <= 2000
    framer.receive_data(b"x" * 100)
    assert isinstance(framer.next_event(), FramedMessage)
    assert framer.buffered == 0


# --- parse_whole: a whole request parsed directly, only when the framer would frame it as is --

_OPTIONS_HEAD = (
    b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TLS h:5061;branch=z9hG4bK-w\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
    b"Call-ID: w1\r\nCSeq: 1 OPTIONS\r\n"
)
WHOLE_CASES = {
    "plain": _OPTIONS_HEAD + b"Content-Length: 0\r\n\r\n",
    "body": _OPTIONS_HEAD + b"Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
    "compact": _OPTIONS_HEAD + b"l: 0\r\n\r\n",
    "upper": _OPTIONS_HEAD + b"CONTENT-LENGTH: 0\r\n\r\n",
    "space before colon": _OPTIONS_HEAD + b"Content-Length \t: 0\r\n\r\n",
    "folded": _OPTIONS_HEAD + b"Content-Length:\r\n 0\r\n\r\n",
    "trailing fold": _OPTIONS_HEAD + b"Content-Length: 0\r\n \r\n\r\n",
    "split by a fold": _OPTIONS_HEAD + b"Content-Length: 1\r\n 0\r\n\r\n0123456789",
    "zeros": _OPTIONS_HEAD + b"Content-Length: 00000000000000003\r\n\r\nabc",
    "eleven digits": _OPTIONS_HEAD + b"Content-Length: 10000000000\r\n\r\n",
    "plus": _OPTIONS_HEAD + b"Content-Length: +3\r\n\r\nabc",
    "two equal": _OPTIONS_HEAD + b"Content-Length: 0\r\nl: 0\r\n\r\n",
    "two different": _OPTIONS_HEAD + b"Content-Length: 0\r\nl: 3\r\n\r\nabc",
    "missing": _OPTIONS_HEAD + b"\r\n",
    "missing with body": _OPTIONS_HEAD + b"\r\nabc",
    "short body": _OPTIONS_HEAD + b"Content-Length: 5\r\n\r\nabc",
    "extra octets": _OPTIONS_HEAD + b"Content-Length: 0\r\n\r\nX",
    "pipelined": 2 * (_OPTIONS_HEAD + b"Content-Length: 0\r\n\r\n"),
    "ping behind": _OPTIONS_HEAD + b"Content-Length: 0\r\n\r\n\r\n\r\n",
    "leading crlf": b"\r\n" + _OPTIONS_HEAD + b"Content-Length: 0\r\n\r\n",
    "lone lf": _OPTIONS_HEAD + b"X: a\nb\r\nContent-Length: 0\r\n\r\n",
    "bad header": _OPTIONS_HEAD + b"Bad Name: x\r\nContent-Length: 0\r\n\r\n",
    "bad start line": b"OPTIONS  sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n",
    "response": b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "no end of head": _OPTIONS_HEAD + b"Content-Length: 0\r\n",
    "empty": b"",
}


def _check_parse_whole(data: bytes, **kw: int) -> bool:
    """parse_whole(data) is either None or what the framer + parse_message give."""
    framer = StreamFramer(**kw)
    whole = framer.parse_whole(data)
    assert framer.idle  # untouched
    if whole is None:
        return False
    request, head_length = whole
    assert feed(data, **kw) == [FramedMessage(data)]
    assert data[head_length - 4 : head_length] == b"\r\n\r\n"
    assert data.find(b"\r\n\r\n") == head_length - 4
    expected = parse_message(data)
    assert isinstance(expected, Request)
    assert (request.method, request.uri, request.version) == (
        expected.method,
        expected.uri,
        expected.version,
    )
    assert (request.headers, request.body) == (expected.headers, expected.body)
    return True


@pytest.mark.parametrize("name", sorted(WHOLE_CASES))
def test_parse_whole_only_what_the_framer_frames_as_is(name: str) -> None:
    taken = _check_parse_whole(WHOLE_CASES[name])
    assert taken == (
        name
        in {"plain", "body", "compact", "upper", "space before colon", "folded"}
        | {"trailing fold", "zeros"}
    )


@pytest.mark.parametrize("name", ALL_NAMES)
def test_parse_whole_rfc4475(name: str) -> None:
    _check_parse_whole(load(name))


def test_parse_whole_header_line_limit() -> None:
    data = WHOLE_CASES["plain"]
    lines = data.count(b"\r\n") - 2
    assert _check_parse_whole(data, max_header_lines=lines)
    assert not _check_parse_whole(data, max_header_lines=lines - 1)
    assert not _check_parse_whole(data, max_message_size=len(data) - 1)


def test_parse_whole_not_while_the_framer_holds_octets() -> None:
    framer = StreamFramer()
    framer.receive_data(b"OPT")
    assert framer.parse_whole(WHOLE_CASES["plain"]) is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(sorted(WHOLE_CASES)), min_size=1, max_size=3),
    st.integers(min_value=0, max_value=400),
    st.binary(max_size=4),
)
def test_parse_whole_property(names: list[str], cut: int, junk: bytes) -> None:
    """Concatenations, truncations and insertions of the cases: whatever parse_whole
    takes is exactly one message the framer would deliver whole, parsed the same."""
    data = b"".join(WHOLE_CASES[n] for n in names)
    _check_parse_whole(data[:cut] + junk + data[cut:])
    _check_parse_whole(data[:cut])
