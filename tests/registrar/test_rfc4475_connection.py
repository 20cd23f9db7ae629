"""RFC 4475 torture messages through the node's sans-IO connection (issue 2, points 3 and 7).

tests/sip checks what the parser makes of each message. These tests go one
level up: each message is fed, as a TLS peer would send it, to a
`SipConnection` (stream framer + UAS core + registrar) and what goes back on the
wire is parsed and checked, together with whether the connection is closed and
whether it still answers the next request.

The node is a registrar that routes no calls, so a valid message does not always
get a 2xx: `ANSWERS` says, per message, what the node answers and why.

Stream transport notes (RFC 3261 §18.3: on a stream, Content-Length frames the
message). Three files were written for a datagram transport and behave
differently on a stream, each checked by its own test below:

* clerr (Content-Length 9999, larger than the message): on a stream the receiver
  can only wait for more octets (RFC 4475 §3.1.2.2); the node's idle timer closes
  a connection that stays silent.
* dblreq: on a stream the trailing INVITE is the next message (RFC 4475
  §3.1.1.8); the file's INVITE body is 155 octets for a Content-Length of 150, so
  the last 5 octets (`C` CRLF CRLF) are junk that cannot be framed: close.
* inv2543 has no Content-Length (RFC 2543 over UDP); on a stream it cannot be
  framed (RFC 3261 §18.3, §20.14: the header MUST be used): 400 and close. The
  same message with a Content-Length, everything else RFC 2543 style, is accepted.

baddn.sip, as shipped, lacks the empty line ending its head (see
tests/sip/test_sip_torture.py): the framer waits for it; with it, 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipoauth.oauth import AccessTokenVerifier, KeyRing
from sipoauth.registrar import (
    ConnectionOutput,
    DeviceInfo,
    DirectorySnapshot,
    Flow,
    Registrar,
    RegistrarSettings,
    SipConnection,
    SipCore,
)
from sipoauth.sip import (
    Request,
    Response,
    ServerTransactions,
    SipError,
    parse_message,
)

from ._support import AUDIENCE, ISSUER, NOW, PHONE, Minter

DATA = Path(__file__).parents[1] / "sip" / "data" / "rfc4475"


@dataclass(frozen=True)
class Torture:
    """One MANIFEST.tsv row."""

    section: str
    name: str
    cls: str
    what: str

    @property
    def data(self) -> bytes:
        return load(self.name)


def load(name: str) -> bytes:
    return (DATA / f"{name}.sip").read_bytes()


def manifest() -> list[Torture]:
    rows = []
    for line in (DATA / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            rows.append(Torture(*line.split("\t")))
    return rows


MANIFEST = manifest()


@dataclass(frozen=True)
class Answer:
    """What the node writes back for one torture message fed alone."""

    statuses: tuple[int, ...]
    """Status of each response written, in order; () means nothing is sent."""
    why: str
    close: bool = False
    """The framing cannot be recovered: the connection is closed."""
    waits: bool = False
    """The framer needs more octets (nothing sent, connection kept)."""
    junk_after: bool = False
    """The file ends with octets that cannot be framed: `statuses` are the answers to the
    messages before them (what goes out for the junk: tests/registrar/test_connection.py)."""


UNROUTED = "valid INVITE; this node routes no calls: 480 (RFC 3261 §21.4.18)"
CHALLENGE = "valid REGISTER without a token reaches authentication: 401 Bearer (RFC 8898 §2.3, R11)"
OPTIONS_OK = "valid OPTIONS: 200 (RFC 3261 §11.2)"
DROPPED = "a response matching no client transaction: never answered (RFC 3261 §18.1.2)"

ANSWERS: dict[str, Answer] = {
    # RFC 4475 §3.1.1 valid
    "wsinv": Answer((480,), UNROUTED),
    "intmeth": Answer((501,), "unknown method (RFC 3261 §8.2.1)"),
    "esc01": Answer((480,), UNROUTED),
    "escnull": Answer((401,), CHALLENGE),
    "esc02": Answer((501,), "RE%47IST%45R is not REGISTER, an unknown method (RFC 3261 §8.2.1)"),
    "lwsdisp": Answer((200,), OPTIONS_OK),
    "longreq": Answer((480,), UNROUTED),
    "dblreq": Answer(
        (401, 480), "REGISTER challenged, then the INVITE (own test)", close=True, junk_after=True
    ),
    "semiuri": Answer((200,), OPTIONS_OK),
    "transports": Answer((200,), OPTIONS_OK),
    "mpart01": Answer((405,), "MESSAGE is known but not allowed here: 405 + Allow (§8.2.1)"),
    "unreason": Answer((), DROPPED),
    "noreason": Answer((), DROPPED),
    # RFC 4475 §3.1.2 invalid
    "badinv01": Answer((400,), "extraneous Via separators"),
    "clerr": Answer((), "Content-Length beyond the octets: wait (§3.1.2.2)", waits=True),
    "ncl": Answer((400,), "negative Content-Length: framing lost", close=True),
    "scalar02": Answer((400,), "overlarge CSeq"),
    "scalarlg": Answer((), DROPPED),
    "quotbal": Answer((400,), "unterminated quoted string"),
    "ltgtruri": Answer((400,), "<> around the Request-URI"),
    "lwsruri": Answer((400,), "LWS inside the Request-URI"),
    "lwsstart": Answer((400,), "several SP in the Request-Line"),
    "trws": Answer((400,), "trailing SP in the Request-Line"),
    "escruri": Answer((400,), "escaped headers in the Request-URI"),
    "baddate": Answer((400,), "non-GMT Date"),
    "regbadct": Answer((400,), "URI with ? outside <>"),
    "badaspec": Answer((400,), "spaces inside <>"),
    "baddn": Answer((), "file lacks its empty line: wait for it (own test)", waits=True),
    "badvers": Answer((505,), "SIP/7.0: 505 Version Not Supported (RFC 3261 §21.5.20)"),
    "mismatch01": Answer((400,), "CSeq method differs from the method"),
    "mismatch02": Answer((400,), "CSeq method differs from the (unknown) method"),
    "bigcode": Answer((), "a response (and a broken one): dropped"),
    # §3.2 transaction, §3.3 semantic, §3.4 compat
    "badbranch": Answer((200,), "OPTIONS matched RFC 2543-style (own test)"),
    "insuf": Answer((400,), "To, From, Call-ID, Max-Forwards missing (§3.3.1)"),
    "unkscm": Answer((416,), "unknown Request-URI scheme (RFC 3261 §8.2.2.1)"),
    "novelsc": Answer((416,), "soap.beep Request-URI is not served (RFC 3261 §8.2.2.1)"),
    "unksm2": Answer((401,), "non-SIP To is no error by itself: authentication first (own test)"),
    "bext01": Answer((420,), "unknown Require options (RFC 3261 §8.2.2.3)"),
    "invut": Answer((415,), "unknown Content-Type (RFC 3261 §8.2.3)"),
    "regaut01": Answer((401,), "unknown Authorization scheme: challenged (§3.3.7)"),
    "multi01": Answer((400,), "repeated single-value headers (§3.3.8)"),
    "mcl01": Answer((400,), "two Content-Length values: framing lost (§3.3.9)", close=True),
    "bcast": Answer((), DROPPED),
    "zeromf": Answer((200,), "Max-Forwards 0 is for proxies; a UAS processes it (§3.3.11)"),
    "cparam01": Answer((401,), CHALLENGE),
    "cparam02": Answer((401,), CHALLENGE),
    "regescrt": Answer((401,), CHALLENGE),
    "sdp01": Answer((406,), "INVITE whose Accept excludes SDP (RFC 3261 §8.2.3)"),
    "inv2543": Answer((400,), "no Content-Length on a stream (own test)", close=True),
}

# Messages whose file, fed alone, tells the story only together with their own test.
SPECIAL = {"dblreq", "baddn", "clerr", "inv2543"}

FOLLOW_UP = (
    b"OPTIONS sip:cucm-pub.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TLS 192.0.2.10:50000;branch=z9hG4bK-follow-up-1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:1001@example.com>;tag=follow\r\n"
    b"To: <sip:cucm-pub.example.com>\r\n"
    b"Call-ID: follow-up@192.0.2.10\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n"
)

Connect = Callable[[], SipConnection]


@pytest.fixture
def connect(keys: KeyRing, directory: DirectorySnapshot) -> Connect:
    """A factory of fresh connections, each with its own registrar and transactions."""

    def make() -> SipConnection:
        settings = RegistrarSettings(
            host="cucm-pub.example.com",
            authz_server=ISSUER,
            domains=frozenset({"example.com", "cucm-pub.example.com"}),
        )
        verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
        registrar = Registrar(settings, directory, verifier, tag_factory=lambda: "node-tag")
        return SipConnection(SipCore(registrar, ServerTransactions()), Flow("f1"))

    return make


def responses(out: ConnectionOutput) -> list[Response]:
    parsed = []
    for data in out.data:
        message = parse_message(data)
        assert isinstance(message, Response), data
        parsed.append(message)
    return parsed


def statuses(out: ConnectionOutput) -> tuple[int, ...]:
    return tuple(r.status for r in responses(out))


def sent_request(data: bytes) -> Request | None:
    """The request in `data` as far as its header fields could be split."""
    try:
        message = parse_message(data)
    except SipError as exc:
        return exc.request
    return message if isinstance(message, Request) else None


def assert_echoes(response: Response, request: Request) -> None:
    """RFC 3261 §8.2.6.2: Via, From, Call-ID and CSeq copied (as far as they were sent)."""
    for key in ("via", "from", "call-id", "cseq"):
        sent = request.headers.get(key)
        if sent is None:
            assert key not in response.headers
        elif key == "via":
            assert response.headers[key] == sent
        else:
            assert response.headers[key] == sent[:1]


def params(names: Iterable[str] | None = None) -> list[object]:
    """The manifest rows (all, or those named) as pytest params, ids `section-name`."""
    wanted = None if names is None else set(names)
    chosen = [t for t in MANIFEST if wanted is None or t.name in wanted]
    assert wanted is None or {t.name for t in chosen} == wanted
    return [pytest.param(t, id=f"{t.section}-{t.name}") for t in chosen]


def test_every_manifest_message_has_a_written_answer() -> None:
    """RFC 4475 §3: all 49 messages are covered, none forgotten, none invented."""
    assert len(MANIFEST) == 49
    assert {t.name for t in MANIFEST} == set(ANSWERS)
    assert set(SPECIAL) <= set(ANSWERS)


# -- each message alone: what goes back on the wire --------------------------------------


@pytest.mark.parametrize("torture", params())
def test_rfc4475_answer_on_the_wire(torture: Torture, connect: Connect) -> None:
    """RFC 4475 §3 (class and section in the id): the node's answer, per `ANSWERS`."""
    expected = ANSWERS[torture.name]
    out = connect().receive_data(torture.data, NOW)
    answered = statuses(out)
    if expected.junk_after:
        answered = answered[: len(expected.statuses)]
    assert answered == expected.statuses, expected.why
    assert out.close is expected.close
    if expected.waits:
        assert out.data == [] and out.results == []
    if torture.name in SPECIAL:
        return  # the stream story is told by the message's own test
    request = sent_request(torture.data)
    for response in responses(out):
        assert request is not None
        assert_echoes(response, request)
    if torture.cls == "valid" and request is not None:
        # A valid request gets a final answer, never a 400.
        [status] = expected.statuses
        assert status != 400 and 200 <= status < 600
    if torture.cls == "invalid" and expected.statuses:
        assert expected.statuses in ((400,), (505,))


@pytest.mark.parametrize("torture", params(t.name for t in MANIFEST if t.name not in SPECIAL))
@pytest.mark.parametrize("chunks", ["one-chunk", "two-chunks"])
def test_rfc4475_connection_answers_the_next_request(
    torture: Torture, chunks: str, connect: Connect
) -> None:
    """RFC 4475 §3.1.2 / issue 2 point 3: after any torture message the same connection
    answers a following valid OPTIONS, unless the framing is lost (then it is closed)."""
    expected = ANSWERS[torture.name]
    conn = connect()
    if chunks == "one-chunk":
        out = conn.receive_data(torture.data + FOLLOW_UP, NOW)
        first, second = out, out
    else:
        first = conn.receive_data(torture.data, NOW)
        second = conn.receive_data(FOLLOW_UP, NOW + 1)
    if expected.close:
        assert first.close
        assert statuses(first) == expected.statuses
        assert second.close if chunks == "one-chunk" else second.data == []
        return
    assert not first.close and not second.close
    answers = responses(out) if chunks == "one-chunk" else responses(first) + responses(second)
    assert [r.status for r in answers] == [*expected.statuses, 200]
    options = answers[-1]
    assert options.call_id == "follow-up@192.0.2.10"
    assert options.get("cseq") == "1 OPTIONS"


# -- per-message checks ------------------------------------------------------------------


def test_rfc4475_3_1_1_8_dblreq_register_then_invite_on_the_stream(connect: Connect) -> None:
    """RFC 4475 §3.1.1.8: on a stream the octets after the REGISTER are the next message.

    The REGISTER is challenged (401), the INVITE is answered (480). The file's INVITE
    body is 155 octets for `Content-Length: 150`; the 5 octets left (`C` CRLF CRLF)
    cannot be framed (no Content-Length, RFC 3261 §18.3), so the connection closes.
    """
    data = load("dblreq")
    conn = connect()
    out = conn.receive_data(data, NOW)
    register, invite = (parse_message(d) for d in out.data[:2])
    assert isinstance(register, Response) and isinstance(invite, Response)
    assert (register.status, register.get("cseq")) == (401, "8 REGISTER")
    assert register.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    assert (invite.status, invite.get("cseq")) == (480, "8 INVITE")
    assert invite.call_id == "dblreq.0ha0isnda977644900765@192.0.2.15"
    assert [r.method for r in out.results] == ["REGISTER", "INVITE"]
    assert out.close


def test_rfc4475_3_1_1_8_dblreq_without_the_junk_keeps_the_connection(connect: Connect) -> None:
    """RFC 4475 §3.1.1.8: REGISTER + INVITE with a body matching its Content-Length, then
    an OPTIONS: three answers, connection kept."""
    data = load("dblreq")
    framed = data[: data.index(b"a=rtpmap:31 LP") + len(b"a=rtpmap:31 LP")]  # 150-octet body
    conn = connect()
    out = conn.receive_data(framed + FOLLOW_UP, NOW)
    assert statuses(out) == (401, 480, 200)
    assert not out.close


def test_rfc4475_3_1_2_2_clerr_waits_for_the_announced_body(connect: Connect) -> None:
    """RFC 4475 §3.1.2.2: on a stream, a Content-Length larger than what arrived means
    waiting for more octets: nothing is sent, the connection stays open (the node's idle
    timer closes a silent one); a following OPTIONS is just more body octets."""
    conn = connect()
    out = conn.receive_data(load("clerr"), NOW)
    assert (out.data, out.close) == ([], False)
    out = conn.receive_data(FOLLOW_UP, NOW + 1)
    assert (out.data, out.close) == ([], False)


def test_rfc4475_3_1_2_2_clerr_beyond_the_size_limit_is_refused_at_once(keys, directory) -> None:
    """RFC 4475 §3.1.2.2 + issue 2 point 3 (maximum message size): when the announced
    length exceeds `max_message_size` the node does not wait: 513 and close."""
    settings = RegistrarSettings(domains=frozenset({"example.com"}))
    verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    registrar = Registrar(settings, directory, verifier, tag_factory=lambda: "t")
    conn = SipConnection(
        SipCore(registrar, ServerTransactions()), Flow("f1"), max_message_size=4096
    )
    out = conn.receive_data(load("clerr"), NOW)
    assert statuses(out) == (513,)
    assert out.close
    [response] = responses(out)
    assert response.call_id == "clerr.0ha0isndaksdjweiafasdk3"


def test_rfc4475_3_1_2_15_baddn_complete_gets_400_then_options(connect: Connect) -> None:
    """RFC 4475 §3.1.2.15: non-token display name: 400; the connection goes on. The
    shipped file lacks the empty line ending its head: added here."""
    conn = connect()
    out = conn.receive_data(load("baddn") + b"\r\n" + FOLLOW_UP, NOW)
    assert statuses(out) == (400, 200)
    assert responses(out)[0].call_id == "baddn.31415@c.example.com"
    assert not out.close


def test_rfc4475_3_1_2_15_baddn_as_shipped_waits_for_the_end_of_its_head(
    connect: Connect,
) -> None:
    """RFC 3261 §7 / §18.3: a head ends with an empty line; until it comes the framer
    waits (nothing sent, nothing closed); the empty line then completes it: 400."""
    conn = connect()
    out = conn.receive_data(load("baddn"), NOW)
    assert (out.data, out.close) == ([], False)
    out = conn.receive_data(b"\r\n", NOW)
    assert statuses(out) == (400,)


@pytest.mark.parametrize("torture", params(["scalarlg", "bigcode", "unreason", "noreason"]))
def test_rfc4475_responses_are_dropped(torture: Torture, connect: Connect) -> None:
    """RFC 4475 §3.1.2.5 scalarlg, §3.1.2.19 bigcode, §3.1.1.12-13: a response sent to a
    registrar is not answered (no response to a response); nothing on the wire."""
    out = connect().receive_data(torture.data, NOW)
    assert out.data == [] and not out.close
    assert [r.response for r in out.results] == [None]


def test_rfc4475_3_1_2_16_badvers_505(connect: Connect) -> None:
    """RFC 4475 §3.1.2.16 / RFC 3261 §21.5.20: SIP/7.0 is answered 505."""
    [response] = responses(connect().receive_data(load("badvers"), NOW))
    assert (response.status, response.version) == (505, "SIP/2.0")
    assert response.call_id == "badvers.31417@c.example.com"


def test_rfc4475_3_2_1_badbranch_rfc2543_matching(connect: Connect) -> None:
    """RFC 4475 §3.2.1 / RFC 3261 §17.2.3: a bare `z9hG4bK` is no RFC 3261 branch; the
    request is matched RFC 2543 style, so a retransmission gets the same bytes."""
    conn = connect()
    first = conn.receive_data(load("badbranch"), NOW)
    second = conn.receive_data(load("badbranch"), NOW + 0.5)
    assert statuses(first) == (200,)
    assert second.data == first.data
    assert [r.retransmission for r in first.results + second.results] == [False, True]


def test_rfc4475_3_3_1_insuf_400(connect: Connect) -> None:
    """RFC 4475 §3.3.1: To, From, Call-ID and Max-Forwards missing: 400, echoing what
    there is (Via, CSeq)."""
    [response] = responses(connect().receive_data(load("insuf"), NOW))
    assert response.status == 400
    assert response.get("cseq") == "193942 INVITE"
    assert response.via[0].branch == "z9hG4bKkdj.insuf"


@pytest.mark.parametrize("torture", params(["unkscm", "novelsc"]))
def test_rfc4475_3_3_2_and_3_3_3_unsupported_scheme_416(torture: Torture, connect) -> None:
    """RFC 4475 §3.3.2 unkscm, §3.3.3 novelsc / RFC 3261 §8.2.2.1: 416."""
    [response] = responses(connect().receive_data(torture.data, NOW))
    assert response.status == 416


def test_rfc4475_3_3_4_unksm2_is_challenged_not_rejected(connect: Connect) -> None:
    """RFC 4475 §3.3.4: unknown schemes in To/From/Contact are no error by themselves.
    Without a token the REGISTER stops at authentication (RFC 3261 §10.3 step 3): 401."""
    [response] = responses(connect().receive_data(load("unksm2"), NOW))
    assert response.status == 401
    assert (response.get("www-authenticate") or "").startswith("Bearer ")


def test_rfc4475_3_3_4_unksm2_with_a_token_gets_400_for_its_to(
    connect: Connect, mint: Minter
) -> None:
    """RFC 4475 §3.3.4 / RFC 3261 §10.3 step 5: with a valid token the registrar reaches
    the address-of-record; `isbn:` is not a SIP URI, so 400 (not 416: the Request-URI is
    SIP)."""
    data = load("unksm2").replace(
        b"l: 0\r\n", b"Authorization: Bearer " + mint(PHONE).encode() + b"\r\nl: 0\r\n"
    )
    [response] = responses(connect().receive_data(data, NOW))
    assert response.status == 400
    assert response.call_id == "unksm2.daksdj@hyphenated-host.example.com"


def test_rfc4475_3_3_5_bext01_420_lists_both_options(connect: Connect) -> None:
    """RFC 4475 §3.3.5 / RFC 3261 §8.2.2.3: 420 with Unsupported naming both unknown
    Require options (Proxy-Require is a proxy's business)."""
    [response] = responses(connect().receive_data(load("bext01"), NOW))
    assert response.status == 420
    tags = {t.strip().lower() for t in (response.get("unsupported") or "").split(",")}
    assert tags == {"nothingsupportsthis", "nothingsupportsthiseither"}


def test_rfc4475_3_3_6_invut_415_with_accept(connect: Connect) -> None:
    """RFC 4475 §3.3.6 / RFC 3261 §8.2.3: unknown Content-Type: 415 with Accept."""
    [response] = responses(connect().receive_data(load("invut"), NOW))
    assert response.status == 415
    assert response.get("accept") == "application/sdp"


def test_rfc4475_3_3_7_regaut01_bearer_challenge(connect: Connect) -> None:
    """RFC 4475 §3.3.7 / RFC 8898 §2.3: an unknown Authorization scheme is no Bearer
    credential: the REGISTER is challenged (401 + WWW-Authenticate: Bearer realm=...)."""
    [response] = responses(connect().receive_data(load("regaut01"), NOW))
    assert response.status == 401
    challenge = response.get("www-authenticate") or ""
    assert re.match(r'Bearer realm="ccmsipline", authz_server="https://', challenge)
    assert "error=" not in challenge  # no Bearer token was presented


@pytest.mark.parametrize("torture", params(["multi01", "mcl01"]))
def test_rfc4475_3_3_8_and_3_3_9_repeated_single_values_400(torture: Torture, connect) -> None:
    """RFC 4475 §3.3.8 multi01, §3.3.9 mcl01: 400; mcl01's two differing Content-Length
    values leave the stream unframed, so the connection is also closed."""
    out = connect().receive_data(torture.data, NOW)
    [response] = responses(out)
    assert response.status == 400
    assert out.close is (torture.name == "mcl01")


def test_rfc4475_3_3_10_bcast_dropped(connect: Connect) -> None:
    """RFC 4475 §3.3.10: a 200 with a broadcast Via is a response: nothing is sent."""
    out = connect().receive_data(load("bcast"), NOW)
    assert out.data == [] and not out.close


def test_rfc4475_3_3_11_zeromf_processed(connect: Connect) -> None:
    """RFC 4475 §3.3.11 / RFC 3261 §8.2 + §11.2: Max-Forwards 0 concerns proxies; a UAS
    answers the OPTIONS: 200 with Allow, Accept and Supported."""
    [response] = responses(connect().receive_data(load("zeromf"), NOW))
    assert response.status == 200
    assert response.call_id == "zeromf.jfasdlfnm2o2l43r5u0asdfas"
    assert "REGISTER" in (response.get("allow") or "")
    assert response.get("accept") is not None and response.get("supported") is not None


@pytest.mark.parametrize("torture", params(["cparam01", "cparam02", "regescrt", "escnull"]))
def test_rfc4475_valid_registers_reach_authentication(torture: Torture, connect) -> None:
    """RFC 4475 §3.3.12-14 (and §3.1.1.4): these REGISTERs are valid; without a token
    they are challenged (RFC 8898 §2.3), not rejected as malformed."""
    [response] = responses(connect().receive_data(torture.data, NOW))
    assert response.status == 401
    assert (response.get("www-authenticate") or "").startswith('Bearer realm="ccmsipline"')
    assert response.to.tag == "node-tag"


TORTURE_PHONE = "SEP0000C0FFEE00"
STORED_CONTACTS = {
    # §3.3.12: outside <> `;unknownparam` is a contact parameter, kept with the binding
    "cparam01": ("sip:watson@example.com", "<sip:+19725552222@gw1.example.net>;unknownparam"),
    # §3.3.13: inside <> it is a URI parameter
    "cparam02": ("sip:watson@example.com", "<sip:+19725552222@gw1.example.net;unknownparam>"),
    # §3.3.14: the escaped header stays in the stored URI
    "regescrt": ("sip:user@example.com", "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>"),
}


@pytest.mark.parametrize("torture", params(STORED_CONTACTS))
def test_rfc4475_registers_with_a_token_store_the_contact_as_sent(
    torture: Torture, keys: KeyRing, mint: Minter
) -> None:
    """RFC 4475 §3.3.12-14 ("binding stored with the parameter", "registrar stores it"):
    the same REGISTER with a valid token for a device holding the torture users' lines
    is accepted (200) and the binding and the 200's Contact keep the parameter / the
    escaped header (RFC 3261 §10.3 step 8)."""
    directory = DirectorySnapshot.build(
        oauth_mode=True, devices=[DeviceInfo(TORTURE_PHONE, ("watson", "user"), oauth=True)]
    )
    settings = RegistrarSettings(domains=frozenset({"example.com"}), authz_server=ISSUER)
    verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    registrar = Registrar(settings, directory, verifier, tag_factory=lambda: "t")
    conn = SipConnection(SipCore(registrar, ServerTransactions()), Flow("f1"))
    credentials = b"Authorization: Bearer " + mint(TORTURE_PHONE).encode() + b"\r\n"
    head, _, _ = torture.data.partition(b"\r\n\r\n")
    data = head + b"\r\n" + credentials + b"\r\n"  # the file's `l: 0` already frames it

    [response] = responses(conn.receive_data(data, NOW))
    assert response.status == 200
    aor, contact = STORED_CONTACTS[torture.name]
    [binding] = registrar.table
    assert (binding.aor, binding.contact, binding.device) == (aor, contact, TORTURE_PHONE)
    assert response.get_all("contact") == [f"{contact};expires=120"]


def test_rfc4475_3_3_15_sdp01_406(connect: Connect) -> None:
    """RFC 4475 §3.3.15 / RFC 3261 §8.2.3: INVITE whose Accept excludes SDP: 406."""
    [response] = responses(connect().receive_data(load("sdp01"), NOW))
    assert response.status == 406  # (415 would also do; this node checks Accept: 406)


def test_rfc4475_3_4_1_inv2543_accepted_when_framed(connect: Connect) -> None:
    """RFC 4475 §3.4.1: an RFC 2543 INVITE (no branch cookie, no From tag, no
    Max-Forwards) is accepted: parsed and answered like any INVITE (480, not 400). On a
    stream it must carry Content-Length (RFC 3261 §20.14), added here; a retransmission
    is matched RFC 2543 style (§17.2.3) and gets the same bytes."""
    data = load("inv2543")
    head, _, body = data.partition(b"\r\n\r\n")
    framed = head + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    conn = connect()
    first = conn.receive_data(framed, NOW)
    assert statuses(first) == (480,)
    assert responses(first)[0].call_id == "inv2543.1717@ift.client.example.com"
    assert not first.close
    second = conn.receive_data(framed + FOLLOW_UP, NOW + 1)
    assert second.data[0] == first.data[0]
    assert statuses(second) == (480, 200)


def test_rfc4475_3_4_1_inv2543_without_content_length_cannot_be_framed(
    connect: Connect,
) -> None:
    """RFC 3261 §18.3 / §20.14: on a stream the message end is unknown without
    Content-Length (the file was meant for UDP): 400 echoing the request, then close."""
    out = connect().receive_data(load("inv2543"), NOW)
    [response] = responses(out)
    assert response.status == 400
    assert response.call_id == "inv2543.1717@ift.client.example.com"
    assert out.close
