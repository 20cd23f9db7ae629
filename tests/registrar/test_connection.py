"""One SIP stream connection, sans-IO (issue 2, point 3): `SipConnection.receive_data`.

Keep-alives (RFC 5626 §4.4.1), framing over arbitrary chunking (RFC 3261 §18.3),
pipelining, the maximum message size, retransmissions absorbed by the server
transaction (RFC 3261 §17.2.2/§17.2.3), and a property test: whatever octets
arrive, in whatever chunks, `receive_data` never raises.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipoauth.oauth import AccessTokenVerifier, KeyRing
from sipoauth.registrar import (
    ConnectionOutput,
    CoreResult,
    DirectorySnapshot,
    Flow,
    Registrar,
    RegistrarSettings,
    SipConnection,
    SipCore,
)
from sipoauth.sip import Response, ServerTransactions, parse_message

from ._support import AUDIENCE, ISSUER, NOW, PHONE, Minter, register_bytes

FLOW = Flow("f1")
AOR = "sip:1001@example.com"
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-001122334455>"


def options(branch: str = "z9hG4bK-opt-1", call_id: str = "opt-1@192.0.2.10") -> bytes:
    return (
        "OPTIONS sip:cucm-pub.example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS 192.0.2.10:50000;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:1001@example.com>;tag=opt\r\n"
        "To: <sip:cucm-pub.example.com>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def make_registrar(keys: KeyRing, directory: DirectorySnapshot) -> Registrar:
    settings_ = RegistrarSettings(
        host="cucm-pub.example.com",
        authz_server=ISSUER,
        domains=frozenset({"example.com", "cucm-pub.example.com"}),
    )
    verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    tags = iter(range(1, 1_000_000))
    return Registrar(settings_, directory, verifier, tag_factory=lambda: f"t{next(tags)}")


Connect = Callable[..., SipConnection]


@pytest.fixture
def connect(keys: KeyRing, directory: DirectorySnapshot) -> Connect:
    """A factory of fresh connections (own registrar and transaction table each)."""

    def make(**kwargs: int) -> SipConnection:
        core = SipCore(make_registrar(keys, directory), ServerTransactions())
        return SipConnection(core, FLOW, **kwargs)

    return make


def responses(out: ConnectionOutput) -> list[Response]:
    parsed = []
    for data in out.data:
        message = parse_message(data)
        assert isinstance(message, Response), data
        parsed.append(message)
    return parsed


def registrar_of(conn: SipConnection) -> Registrar:
    return conn._core.registrar


# -- keep-alives -----------------------------------------------------------------------


def test_rfc5626_4_4_1_ping_gets_pong(connect: Connect) -> None:
    """RFC 5626 §4.4.1: a double-CRLF ping is answered with a single-CRLF pong."""
    out = connect().receive_data(b"\r\n\r\n", NOW)
    assert out.data == [b"\r\n"]
    assert not out.close and out.results == []


def test_rfc5626_4_4_1_ping_split_and_repeated(connect: Connect) -> None:
    """RFC 5626 §4.4.1: a ping arriving in pieces is still one ping; two pings, two pongs."""
    conn = connect()
    assert conn.receive_data(b"\r\n", NOW).data == []  # could still become a ping
    assert conn.receive_data(b"\r", NOW).data == []
    assert conn.receive_data(b"\n", NOW).data == [b"\r\n"]
    assert conn.receive_data(b"\r\n\r\n\r\n\r\n", NOW).data == [b"\r\n", b"\r\n"]


def test_rfc5626_ping_between_messages(connect: Connect) -> None:
    """RFC 5626 §4.4.1: pings interleaved with requests are answered in stream order."""
    out = connect().receive_data(
        b"\r\n\r\n" + options() + b"\r\n\r\n" + options("z9hG4bK-opt-2"), NOW
    )
    assert out.data[0] == b"\r\n" and out.data[2] == b"\r\n"
    assert [parse_message(d).status for d in (out.data[1], out.data[3])] == [200, 200]  # type: ignore[union-attr]


def test_rfc3261_7_5_lone_crlf_between_messages_is_ignored(connect: Connect) -> None:
    """RFC 3261 §7.5 (and a peer's RFC 5626 pong): a single CRLF before a start line is
    skipped; it is not answered and does not disturb the next message."""
    out = connect().receive_data(
        b"\r\n" + options() + b"\r\n" + options("z9hG4bK-opt-2", "opt-2@192.0.2.10"), NOW
    )
    assert [r.status for r in responses(out)] == [200, 200]
    assert [r.call_id for r in responses(out)] == ["opt-1@192.0.2.10", "opt-2@192.0.2.10"]
    assert not out.close


# -- chunking and pipelining (RFC 3261 §18.3) ---------------------------------------------


def stream(mint: Minter) -> bytes:
    """Pings, a CRLF, a REGISTER with a token, an OPTIONS, a bad request, another REGISTER."""
    token = mint()
    return b"".join(
        [
            b"\r\n\r\n",
            register_bytes(token=token, cseq=1, branch="z9hG4bK-r1"),
            b"\r\n",
            options(),
            b"OPTIONS sip:x@example.com SIP/2.0 \r\nVia: SIP/2.0/TLS h;branch=z9hG4bK-b\r\n"
            b"Call-ID: bad\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            b"\r\n\r\n",
            register_bytes(token=token, cseq=2, branch="z9hG4bK-r2"),
        ]
    )


def test_rfc3261_18_3_byte_by_byte_equals_one_chunk(connect: Connect, mint: Minter) -> None:
    """RFC 3261 §18.3: framing depends on Content-Length only, never on how the stream
    was cut: fed one octet at a time, the connection writes exactly what it writes when
    fed everything at once."""
    data = stream(mint)
    whole = connect().receive_data(data, NOW)
    conn = connect()
    pieces: list[bytes] = []
    for i in range(len(data)):
        out = conn.receive_data(data[i : i + 1], NOW)
        assert not out.close
        pieces += out.data
    assert pieces == whole.data
    statuses = [parse_message(d).status for d in whole.data if d != b"\r\n"]  # type: ignore[union-attr]
    assert statuses == [200, 200, 400, 200]
    assert whole.data.count(b"\r\n") == 2  # two pongs
    assert registrar_of(conn).table.get((AOR, INSTANCE)).cseq == 2  # type: ignore[union-attr]


def test_rfc3261_18_3_random_cuts_equal_one_chunk(connect: Connect, mint: Minter) -> None:
    """RFC 3261 §18.3: the stream cut in two, at every 37th octet: same writes."""
    data = stream(mint)
    expected = connect().receive_data(data, NOW).data
    for cut in range(0, len(data), 37):
        conn = connect()
        got = conn.receive_data(data[:cut], NOW).data + conn.receive_data(data[cut:], NOW).data
        assert got == expected, cut


def test_two_pipelined_registers_answered_in_order(connect: Connect, mint: Minter) -> None:
    """RFC 3261 §18.3 / §10.3: two REGISTERs in one chunk get two responses, in order;
    the second (higher CSeq, same Call-ID) refreshes the binding."""
    token = mint()
    conn = connect()
    out = conn.receive_data(
        register_bytes(token=token, cseq=1, branch="z9hG4bK-p1")
        + register_bytes(token=token, cseq=2, branch="z9hG4bK-p2", expires=90),
        NOW,
    )
    first, second = responses(out)
    assert (first.status, first.get("cseq")) == (200, "1 REGISTER")
    assert (second.status, second.get("cseq")) == (200, "2 REGISTER")
    assert [r.method for r in out.results] == ["REGISTER", "REGISTER"]
    binding = registrar_of(conn).table.get((AOR, INSTANCE))
    assert binding is not None and binding.cseq == 2 and binding.expires_at == NOW + 90


def test_observer_sees_every_message(keys, directory, mint: Minter) -> None:
    """The connection reports each message's outcome to its observer (for logs and the
    write-behind of binding changes), as in `results`."""
    seen: list[CoreResult] = []
    core = SipCore(make_registrar(keys, directory), ServerTransactions())
    conn = SipConnection(core, FLOW, observer=seen.append)
    out = conn.receive_data(register_bytes(token=mint()) + options(), NOW)
    assert seen == out.results
    assert [r.method for r in seen] == ["REGISTER", "OPTIONS"]
    assert seen[0].device == PHONE and len(seen[0].changes) == 1


# -- maximum message size (issue 2 point 3; STYLE rule 7) ----------------------------------


def test_oversize_head_closes_without_answer(connect: Connect) -> None:
    """Issue 2 point 3 (maximum message size): a head longer than `max_message_size` is
    never buffered whole: the connection is closed without an answer (the framer's
    table: no empty line within the limit), however the octets were chunked; later
    octets are ignored."""
    big = options().replace(b"Max-Forwards: 70\r\n", b"X-Pad: " + b"a" * 2000 + b"\r\n")
    conn = connect(max_message_size=1024)
    out = conn.receive_data(big, NOW)
    assert (out.data, out.close) == ([], True)
    assert conn.receive_data(options("z9hG4bK-after"), NOW) == ConnectionOutput()
    conn = connect(max_message_size=1024)
    outs = [conn.receive_data(big[i : i + 100], NOW) for i in range(0, len(big), 100)]
    assert [o.data for o in outs] == [[]] * len(outs)
    assert [o.close for o in outs].count(True) == 1


def test_oversize_without_end_of_head_closes_silently(connect: Connect) -> None:
    """No empty line within `max_message_size` octets: nothing to answer, close at once
    (the buffer never grows past the limit)."""
    conn = connect(max_message_size=1024)
    out = conn.receive_data(b"OPTIONS sip:x SIP/2.0\r\nX-Pad: " + b"a" * 600, NOW)
    assert (out.data, out.close) == ([], False)
    out = conn.receive_data(b"a" * 600, NOW)
    assert (out.data, out.close) == ([], True)


def test_oversize_body_gets_513_and_close(connect: Connect) -> None:
    """RFC 3261 §21.5.14: a Content-Length making head + body exceed `max_message_size`
    is answered 513 (the head is known: Via, Call-ID...) without waiting for the body,
    then the connection is closed."""
    conn = connect(max_message_size=1024)
    big = options().replace(b"Content-Length: 0", b"Content-Length: 5000")
    out = conn.receive_data(big, NOW)
    [response] = responses(out)
    assert (response.status, response.call_id) == (513, "opt-1@192.0.2.10")
    assert out.close
    assert conn.receive_data(b"x" * 5000 + options("z9hG4bK-after"), NOW) == ConnectionOutput()


def test_message_of_exactly_max_size_is_accepted(connect: Connect) -> None:
    """The limit is inclusive: a message of exactly `max_message_size` octets is handled;
    one octet more and the connection is closed."""
    padded = options().replace(b"Max-Forwards", b"X-Pad: " + b"a" * 100 + b"\r\nMax-Forwards")
    size = len(padded)
    out = connect(max_message_size=size).receive_data(padded, NOW)
    assert [r.status for r in responses(out)] == [200]
    out = connect(max_message_size=size - 1).receive_data(padded, NOW)
    assert out.close


# -- retransmissions (RFC 3261 §17.2.2, §17.2.3) -------------------------------------------


def test_rfc3261_17_2_2_retransmitted_register_same_bytes_registrar_once(
    connect: Connect, mint: Minter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 3261 §17.2.2/§17.2.3: a REGISTER retransmitted with the same branch gets the
    stored response again, byte for byte, and is not processed a second time: the
    registrar runs once and the binding (CSeq, expiry) is untouched — had it run again
    5 s later the expiry and the Date header would have moved."""
    conn = connect()
    registrar = registrar_of(conn)
    calls: list[str] = []
    original = registrar.register

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("register")
        return original(*args, **kwargs)

    monkeypatch.setattr(registrar, "register", counting)
    request = register_bytes(token=mint(), cseq=7, branch="z9hG4bK-rtx")
    first = conn.receive_data(request, NOW)
    before = registrar.table.get((AOR, INSTANCE))
    second = conn.receive_data(request, NOW + 5)
    assert [r.status for r in responses(first)] == [200]
    assert second.data == first.data
    assert calls == ["register"]
    assert second.results[0].retransmission and second.results[0].changes == []
    after = registrar.table.get((AOR, INSTANCE))
    assert after == before and after is not None
    assert (after.cseq, after.expires_at) == (7, NOW + 120)

    # Control: a new transaction (new branch, next CSeq) is processed.
    third = conn.receive_data(register_bytes(token=mint(), cseq=8, branch="z9hG4bK-new"), NOW + 5)
    assert calls == ["register", "register"]
    assert responses(third)[0].status == 200 and third.data != first.data
    refreshed = registrar.table.get((AOR, INSTANCE))
    assert refreshed is not None and (refreshed.cseq, refreshed.expires_at) == (8, NOW + 125)


def test_rfc3261_17_2_3_retransmission_on_a_new_connection(keys, directory, mint) -> None:
    """RFC 3261 §17.2.3 (the node's transaction table is shared by its connections): a
    phone whose connection broke retransmits on a new one and gets the same answer."""
    core = SipCore(make_registrar(keys, directory), ServerTransactions())
    request = register_bytes(token=mint(), branch="z9hG4bK-moved")
    first = SipConnection(core, Flow("f1")).receive_data(request, NOW)
    second = SipConnection(core, Flow("f2")).receive_data(request, NOW + 1)
    assert second.data == first.data and second.results[0].retransmission


def test_rfc3261_17_2_2_challenge_is_retransmitted_too(connect: Connect) -> None:
    """RFC 3261 §17.2.2: the stored answer is whatever was final, a 401 challenge too."""
    conn = connect()
    request = register_bytes(branch="z9hG4bK-401")
    first = conn.receive_data(request, NOW)
    assert [r.status for r in responses(first)] == [401]
    assert conn.receive_data(request, NOW + 1).data == first.data


# -- To tags and unanswerable junk ----------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(options(), id="OPTIONS-200"),
        pytest.param(options().replace(b"OPTIONS", b"INVITE"), id="INVITE-480"),
        pytest.param(options().replace(b"OPTIONS", b"FROBNICATE"), id="unknown-501"),
        pytest.param(
            options().replace(b"Max-Forwards", b"Require: nosuchthing\r\nMax-Forwards"),
            id="Require-420",
        ),
    ],
)
def test_rfc3261_8_2_6_2_every_final_response_has_a_to_tag(
    request_bytes: bytes, connect: Connect
) -> None:
    """RFC 3261 §8.2.6.2: "if the request did not have a tag in the To header field, the
    UAS core MUST add a tag to the To header field in the response" (all but 100)."""
    [response] = responses(connect().receive_data(request_bytes, NOW))
    assert response.status >= 200
    assert response.to.tag


@pytest.mark.parametrize("junk", [b"C\r\n\r\n", b"hello world\r\nfoo: bar\r\n\r\n"])
def test_junk_that_cannot_be_framed_gets_no_response_only_a_close(
    junk: bytes, connect: Connect
) -> None:
    """RFC 3261 §18.2.2: a response is sent following the request's top Via; octets with
    no request line and no Via cannot be answered. They cannot be framed either (no
    Content-Length, §18.3): the connection is closed without a response. (The tail of
    RFC 4475 dblreq.sip is such junk.)"""
    out = connect().receive_data(junk, NOW)
    assert out.close
    assert out.data == []


# -- robustness: property test --------------------------------------------------------------

FRAGMENTS = [
    b"\r\n",
    b"\r\n\r\n",
    b"\r",
    b"\n",
    b"Content-Length: 0\r\n",
    b"l: 5\r\n\r\n",
    b"Content-Length: -1\r\n\r\n",
    b"REGISTER sip:example.com SIP/2.0\r\n",
    b"SIP/2.0 200 OK\r\n",
    b"Via: SIP/2.0/TLS h;branch=z9hG4bK-x\r\n",
    b"CSeq: 1 REGISTER\r\n",
    options(),
    register_bytes(),
]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=80), st.sampled_from(FRAGMENTS)),
        max_size=30,
    ),
    limit=st.sampled_from([256, 1024, 65535]),
)
def test_receive_data_never_raises(
    chunks: list[bytes], limit: int, keys: KeyRing, directory: DirectorySnapshot
) -> None:
    """Issue 2 point 6 ("bad clients never disturb other connections") at the sans-IO
    level: any octets in any chunks give a ConnectionOutput, never an exception; every
    write is a pong or a parseable response; after `close` nothing more is written."""
    core = SipCore(make_registrar(keys, directory), ServerTransactions())
    conn = SipConnection(core, FLOW, max_message_size=limit)
    closed = False
    for i, chunk in enumerate(chunks):
        out = conn.receive_data(chunk, NOW + i)
        if closed:
            assert out.data == [] and out.results == []
        for data in out.data:
            if data != b"\r\n":
                assert isinstance(parse_message(data), Response)
        closed = closed or out.close


# -- a new connection's first request, parsed without the framer when it is whole ---------


def _first_request_cases(mint: Minter) -> dict[str, bytes]:
    register = register_bytes(token=mint(), cseq=1, branch="z9hG4bK-w1")
    head, _, _ = register.partition(b"Content-Length: 0\r\n\r\n")
    return {
        "register": register,
        "options": options(),
        "compact length": head + b"l: 0\r\n\r\n",
        "folded length": head + b"Content-Length:\r\n 0\r\n\r\n",
        "two lengths": head + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
        "missing length": head + b"\r\n",
        "pipelined": register + options(),
        "junk behind": register + b"X",
        "ping behind": register + b"\r\n\r\n",
        "incomplete": register[:-3],
        "bad header": head + b"Bad Name: 1\r\nContent-Length: 0\r\n\r\n",
        "response": b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    }


def test_first_request_whole_or_in_pieces_same_answers(connect: Connect, mint: Minter) -> None:
    """A request that arrives whole on a new connection is parsed without the framer
    (StreamFramer.parse_whole); whatever the octets, the connection writes, closes and
    reports exactly what it does when the framer takes them (octets in two pieces)."""
    for name, data in _first_request_cases(mint).items():
        whole = connect().receive_data(data, NOW)
        conn = connect()
        first = conn.receive_data(data[:1], NOW)
        rest = conn.receive_data(data[1:], NOW)
        assert whole.data == first.data + rest.data, name
        assert whole.close == (first.close or rest.close), name
        got = [(r.status, r.method, r.detail) for r in first.results + rest.results]
        assert [(r.status, r.method, r.detail) for r in whole.results] == got, name


def test_first_request_parsed_whole_teaches_the_parse_cache(connect: Connect, mint: Minter) -> None:
    """The first request, parsed without the framer, is remembered as parse_message
    would: the connection's re-REGISTERs are then matched by the parse cache."""
    token = mint()
    conn = connect()
    for cseq in (1, 2, 3):
        data = register_bytes(token=token, cseq=cseq, branch=f"z9hG4bK-c{cseq}")
        [response] = responses(conn.receive_data(data, NOW))
        assert response.status == 200
    assert len(conn._cache) == 1


def _invite(branch: str = "z9hG4bK-inv-1") -> bytes:
    return (
        "INVITE sip:2001@cucm-pub.example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS 192.0.2.10:50000;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:1001@example.com>;tag=inv\r\n"
        "To: <sip:2001@example.com>\r\n"
        "Call-ID: inv-1@192.0.2.10\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:1001@192.0.2.10:50000;transport=tls>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _ack(to: str, branch: str = "z9hG4bK-inv-1") -> bytes:
    return (
        "ACK sip:2001@cucm-pub.example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS 192.0.2.10:50000;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:1001@example.com>;tag=inv\r\n"
        f"To: {to}\r\n"
        "Call-ID: inv-1@192.0.2.10\r\n"
        "CSeq: 1 ACK\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_rfc3261_s17_2_1_ack_of_a_non_2xx_final_response_is_absorbed(connect: Connect) -> None:
    """RFC 3261 §17.2.1: the ACK of a non-2xx final response (same branch as the INVITE)
    moves the INVITE server transaction to Confirmed and is absorbed. Answering it with
    the final response again would make the client ACK again, without end."""
    conn = connect()
    out = conn.receive_data(_invite(), NOW)
    [final] = responses(out)
    assert final.status == 480
    to = final.headers["to"][0]
    for n in range(3):
        out = conn.receive_data(_ack(to), NOW + 0.1 * (n + 1))
        assert out.data == []
        assert not out.close
    # The INVITE itself, retransmitted, still gets its final response again (§17.2.1).
    [again] = responses(conn.receive_data(_invite(), NOW + 1))
    assert again.status == 480
