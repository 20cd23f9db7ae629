"""RFC 4475 torture messages: every one is a test with specific expectations.

Valid messages must parse and validate, and their tricky values come out
right. Invalid ones raise RemoteProtocolError with the status to answer (or,
for responses, to drop them). Semantic / transaction / compat messages check
what this layer decides (inspect_request, the transaction key...).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sip_torture import Torture, load, manifest

from sipoauth.sip import (
    AbsoluteUri,
    FramedMessage,
    RemoteProtocolError,
    Request,
    Response,
    ServerTransactions,
    SipUri,
    StreamFramer,
    inspect_request,
    parse_message,
)

ALL = manifest()
UAS = {
    "allowed_methods": frozenset({"REGISTER", "OPTIONS", "INVITE", "MESSAGE"}),
    "known_methods": frozenset(
        {"REGISTER", "OPTIONS", "INVITE", "MESSAGE", "ACK", "BYE", "CANCEL", "NOTIFY"}
    ),
    "supported_options": frozenset({"path", "outbound", "gruu"}),
    "accepted_body_types": {"INVITE": frozenset({"application/sdp"})},
}


def request(name: str) -> Request:
    message = parse_message(load(name))
    assert isinstance(message, Request)
    message.validate()
    return message


def test_manifest_lists_the_49_messages() -> None:
    assert len(ALL) == 49
    assert {t.cls for t in ALL} == {"valid", "invalid", "transaction", "semantic", "compat"}


# --- RFC 4475 §3.1.1 valid messages -----------------------------------------------------


def check_wsinv(m: Request) -> None:
    # §3.1.1.1: folding, odd whitespace, mixed long/short forms
    assert m.method == "INVITE"
    assert m.to.tag == "1918181833n"
    assert m.to.display_name is None
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "vivekg"
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.from_.tag == "98asjd8"
    assert m.max_forwards == 68
    assert (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert [v.branch for v in m.via] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert [v.transport for v in m.via] == ["UDP", "TCP", "UDP"]
    assert m.via[1].host == "spindle.example.com"
    assert m.get_all("via")[1].count(",") == 1  # two values in one `v:` line
    assert m.get("s") == ""  # empty Subject
    assert m.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    [contact] = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert contact.q == 0.33
    assert [str(r.uri) for r in m.route] == [
        "sip:services.example.com;lr;unknownwith=value;unknown-no-value"
    ]
    assert len(m.body) == 150 and m.content_type == "application/sdp"


def check_intmeth(m: Request) -> None:
    # §3.1.1.2: unusual but legal characters everywhere
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method == method and m.cseq.method == method and m.cseq.seq == 139122385
    uri = m.request_uri
    assert isinstance(uri, SipUri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert m.via[0].branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert isinstance(m.to.uri, SipUri)
    assert m.to.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.from_.param_unquoted("fromParam''~+*_!.-%") == "работающий"
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def check_esc01(m: Request) -> None:
    # §3.1.1.3: escapes in the user part equal the unescaped characters
    uri = m.request_uri
    assert isinstance(uri, SipUri)
    assert uri.user == "sips:user@example.com"
    assert uri.host == "example.net"
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "user"
    assert m.to.uri.equivalent(SipUri("sip", "user", None, "example.com"))
    assert m.to.uri.aor() == "sip:user@example.com"
    assert isinstance(m.from_.uri, SipUri) and m.from_.uri.user == "I have spaces"
    [contact] = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # from compact `i:`
    assert m.content_type == "application/sdp"  # from compact `C:`


def check_escnull(m: Request) -> None:
    # §3.1.1.4: %00 in the user part
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "null-\x00-null"
    users = [c.uri.user for c in m.contacts if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]
    assert m.content_length == 0  # compact `L:0`


def check_esc02(m: Request) -> None:
    # §3.1.1.5: % is not an escape in a method, display name or Call-ID
    assert m.method == "RE%47IST%45R" == m.cseq.method
    assert m.to.display_name == "%Z%45"
    assert m.via[0].branch == "z9hG4bK209%fzsnel234"
    # `C%6Fntact` is an unknown header, not a Contact
    assert [c.uri.user for c in m.contacts if isinstance(c.uri, SipUri)] == ["alias1", "alias3"]
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def check_lwsdisp(m: Request) -> None:
    # §3.1.1.6: no LWS between display name and <
    assert m.from_.display_name == "caller"
    assert m.from_.tag == "323"


def check_longreq(m: Request) -> None:
    # §3.1.1.7: very long values
    assert len(m.via) == 34
    assert [v.host for v in m.via[:3]] == [
        "sip33.example.com",
        "sip32.example.com",
        "sip31.example.com",
    ]
    last = m.via[-1]
    assert last.received == "192.0.2.5" and last.branch is not None and len(last.branch) == 215
    assert m.to.display_name is not None and len(m.to.display_name) == 103
    assert isinstance(m.to.uri, SipUri) and m.to.uri.port == 6000
    assert [len(name) for name in m.to.uri.params] == [13, 109, 128]
    assert m.from_.tag is not None and len(m.from_.tag) == 155
    assert len(m.call_id) == 141
    assert isinstance(m.contacts[0].uri, SipUri) and len(m.contacts[0].uri.user or "") == 115
    assert len(m.body) == 150


def check_dblreq(m: Request) -> None:
    # §3.1.1.8: the octets after Content-Length are junk for a datagram
    assert m.method == "REGISTER" and m.body == b""
    assert m.cseq.method == "REGISTER" and m.max_forwards == 8
    # on a stream, they are the start of the next message
    framer = StreamFramer()
    framer.receive_data(load("dblreq"))
    first = framer.next_event()
    assert isinstance(first, FramedMessage)
    assert first.data == load("dblreq")[:300]
    second = framer.next_event()
    assert isinstance(second, FramedMessage)
    invite = parse_message(second.data)
    assert isinstance(invite, Request) and invite.method == "INVITE" and len(invite.body) == 150


def check_semiuri(m: Request) -> None:
    # §3.1.1.9: ; in the user part of the Request-URI
    uri = m.request_uri
    assert isinstance(uri, SipUri)
    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com" and uri.params == {}
    assert m.accept == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def check_transports(m: Request) -> None:
    # §3.1.1.10: varied transports
    assert [v.transport for v in m.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def check_mpart01(m: Request) -> None:
    # §3.1.1.11: binary multipart body, delivered octet for octet
    assert m.method == "MESSAGE"
    assert m.content_type == "multipart/mixed"
    assert len(m.body) == 553 and m.body == load("mpart01")[-553:]
    assert m.via[0].port == 5070 and "rport" in m.via[0].params and m.via[0].rport is None


def check_unreason(m: Response) -> None:
    # §3.1.1.12: reason phrase with unusual (UTF-8) characters
    assert m.status == 200
    assert m.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert len(m.body) == 154


def check_noreason(m: Response) -> None:
    # §3.1.1.13: empty reason phrase
    assert m.status == 100 and m.reason == ""
    assert m.to.tag == "902jndnke3"


VALID: dict[str, Callable[..., None]] = {
    "wsinv": check_wsinv,
    "intmeth": check_intmeth,
    "esc01": check_esc01,
    "escnull": check_escnull,
    "esc02": check_esc02,
    "lwsdisp": check_lwsdisp,
    "longreq": check_longreq,
    "dblreq": check_dblreq,
    "semiuri": check_semiuri,
    "transports": check_transports,
    "mpart01": check_mpart01,
    "unreason": check_unreason,
    "noreason": check_noreason,
}

# --- RFC 4475 §3.1.2 invalid messages: (status, words of the reason) ------------------------

INVALID: dict[str, tuple[int, str]] = {
    "badinv01": (400, "Via"),  # extraneous ;;,;,, separators
    "clerr": (400, "Content-Length"),  # larger than the message
    "ncl": (400, "Content-Length"),  # negative
    "scalar02": (400, "CSeq"),  # overlarge CSeq, Max-Forwards, Expires, contact expires
    "scalarlg": (400, "CSeq"),  # response: overlarge CSeq, Retry-After, warn-code
    "quotbal": (400, "To"),  # unterminated quoted string
    "ltgtruri": (400, "Request-URI"),  # <> around the Request-URI
    "lwsruri": (400, "Request-Line"),  # LWS inside the Request-URI
    "lwsstart": (400, "Request-Line"),  # several SPs between elements
    "trws": (400, "Request-Line"),  # trailing SP
    "escruri": (400, "Request-URI"),  # escaped headers in the Request-URI
    "baddate": (400, "Date"),  # EST instead of GMT
    "regbadct": (400, "Contact"),  # URI with ? outside <>
    "badaspec": (400, "To"),  # spaces inside <>
    "baddn": (400, "Incomplete"),  # (the file lacks the final CRLF: see below)
    "badvers": (505, "Version Not Supported"),
    "mismatch01": (400, "CSeq"),
    "mismatch02": (400, "CSeq"),
    "bigcode": (400, "Status"),
}


def assert_rejected(data: bytes, status: int, words: str) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data).validate()
    assert info.value.status == status
    assert words in info.value.reason
    return info.value


def test_baddn_with_its_final_crlf_fails_on_the_display_name() -> None:
    """RFC 4475 §3.1.2.15: `Bell, Alexander` is not a token sequence."""
    assert_rejected(load("baddn") + b"\r\n", 400, "From")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("CSeq", "CSeq: 36893488147419103232 REGISTER"),
        ("Max-Forwards", "Max-Forwards: 300"),
        ("Expires", "Expires: 1" + "0" * 100),
        ("Contact", "Contact: <sip:user@host129.example.com>\r\n  ;expires=280297596632815"),
    ],
)
def test_scalar02_each_overlarge_value_alone_is_rejected(header: str, value: str) -> None:
    """RFC 4475 §3.1.2.4 / RFC 3261 §20.19: each overlarge scalar is a 400 by itself."""
    good = {
        "CSeq": "CSeq: 36 REGISTER",
        "Max-Forwards": "Max-Forwards: 70",
        "Expires": "Expires: 3600",
        "Contact": "Contact: <sip:user@host129.example.com>",
    }
    text = (
        "REGISTER sip:example.com SIP/2.0\r\n"
        "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r\n"
        "To: <sip:user@example.com>\r\nFrom: <sip:user@example.com>;tag=239232jh3\r\n"
        "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\n"
        + "\r\n".join(value if name == header else good[name] for name in good)
        + "\r\nContent-Length: 0\r\n\r\n"
    )
    assert_rejected(text.encode(), 400, header)


@pytest.mark.parametrize(
    ("old", "new", "header"),
    [
        ("9292394834772304023312", "92", "Retry-After"),
        ("Retry-After: 949302838503028349304023988", "Retry-After: 9", "Warning"),
    ],
)
def test_scalarlg_other_overlarge_values(old: str, new: str, header: str) -> None:
    """RFC 4475 §3.1.2.5: Retry-After and the 4-digit warn-code are rejected too."""
    data = load("scalarlg").replace(old.encode(), new.encode())
    if header == "Warning":
        data = data.replace(b"CSeq: 9292394834772304023312", b"CSeq: 92")
    assert_rejected(data, 400, header)


# --- semantic, transaction and compat messages ---------------------------------------------


def sem_badbranch() -> None:
    # §3.2.1: a bare magic cookie is not an RFC 3261 branch: RFC 2543 matching
    m = request("badbranch")
    assert m.top_via.branch == "z9hG4bK" and not m.top_via.has_magic_cookie
    key = ServerTransactions.key(m)
    assert isinstance(key, tuple) and key[0] == "rfc2543"
    assert inspect_request(m, **UAS) is None  # OPTIONS: processed normally


def sem_insuf() -> None:
    # §3.3.1: To, From, Call-ID, Max-Forwards missing
    assert_rejected(load("insuf"), 400, "Missing")


def sem_unkscm() -> None:
    # §3.3.2: unknown Request-URI scheme
    m = request("unkscm")
    assert m.request_uri == AbsoluteUri("nobodyknowsthisscheme", "totallyopaquecontent")
    assert_status(inspect_request(m, **UAS), 416)


def sem_novelsc() -> None:
    # §3.3.3: known but unsupported scheme
    m = request("novelsc")
    assert isinstance(m.request_uri, AbsoluteUri) and m.request_uri.scheme == "soap.beep"
    assert_status(inspect_request(m, **UAS), 416)


def sem_unksm2() -> None:
    # §3.3.4: unknown schemes in To/From/Contact are not errors by themselves
    m = request("unksm2")
    assert m.to.uri == AbsoluteUri("isbn", "2983792873")
    assert m.from_.uri == AbsoluteUri("http", "//www.example.com")
    assert m.contacts[0].uri == AbsoluteUri("name", "John_Smith")
    assert inspect_request(m, **UAS) is None  # the registrar answers 400 (To not SIP)


def sem_bext01() -> None:
    # §3.3.5: unknown Require option -> 420 + Unsupported; Proxy-Require ignored by a UAS
    m = request("bext01")
    assert m.require == {"nothingsupportsthis", "nothingsupportsthiseither"}
    response = parse_message(inspect_request(m, **UAS) or b"")
    assert isinstance(response, Response) and response.status == 420
    assert response.get("Unsupported") == "nothingSupportsThis, nothingSupportsThisEither"


def sem_invut() -> None:
    # §3.3.6: unknown Content-Type -> 415 + Accept
    m = request("invut")
    response = parse_message(inspect_request(m, **UAS) or b"")
    assert isinstance(response, Response) and response.status == 415
    assert response.get("Accept") == "application/sdp"


def sem_regaut01() -> None:
    # §3.3.7: unknown auth scheme parses; the registrar challenges
    m = request("regaut01")
    [credentials] = m.authorization
    assert credentials.scheme == "NoOneKnowsThisScheme"
    assert credentials.params == {"opaque-data": "here"}
    assert credentials.bearer_token is None


def sem_multi01() -> None:
    # §3.3.8: repeated single-value headers
    assert_rejected(load("multi01"), 400, "Multiple")


def sem_mcl01() -> None:
    # §3.3.9: two differing Content-Length values
    assert_rejected(load("mcl01"), 400, "Content-Length")


def sem_bcast() -> None:
    # §3.3.10: a response: nothing for a registrar to answer, the caller drops it
    m = parse_message(load("bcast"))
    assert isinstance(m, Response) and m.status == 200
    m.validate()
    assert m.via[1].host == "255.255.255.255"


def sem_zeromf() -> None:
    # §3.3.11: Max-Forwards 0 is processed by a UAS
    m = request("zeromf")
    assert m.max_forwards == 0
    assert inspect_request(m, **UAS) is None


def sem_cparam01() -> None:
    # §3.3.12: addr-spec Contact: `;unknownparam` is a contact (header) parameter
    [contact] = request("cparam01").contacts
    assert isinstance(contact.uri, SipUri) and contact.uri.user == "+19725552222"
    assert contact.uri.params == {} and contact.params == {"unknownparam": None}


def sem_cparam02() -> None:
    # §3.3.13: inside <> it is a URI parameter
    [contact] = request("cparam02").contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.params == {"unknownparam": None} and contact.params == {}


def sem_regescrt() -> None:
    # §3.3.14: escaped header in a Contact URI (compact `M:`) is stored as such
    [contact] = request("regescrt").contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.headers == {"Route": "<sip:sip.example.com>"}
    assert str(contact.uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def sem_sdp01() -> None:
    # §3.3.15: INVITE whose Accept excludes SDP -> 406
    m = request("sdp01")
    assert m.accept == ["text/nobodyknowsthis"]
    assert_status(inspect_request(m, **UAS), 406)


def compat_inv2543() -> None:
    # §3.4.1: RFC 2543 INVITE: no branch, From tag, Content-Length or Max-Forwards
    m = request("inv2543")
    assert m.from_.tag is None and m.top_via.branch is None and m.max_forwards is None
    assert len(m.body) == 105
    assert ServerTransactions.key(m)[0] == "rfc2543"  # type: ignore[index]
    assert inspect_request(m, **UAS) is None


OTHERS: dict[str, Callable[[], None]] = {
    "badbranch": sem_badbranch,
    "insuf": sem_insuf,
    "unkscm": sem_unkscm,
    "novelsc": sem_novelsc,
    "unksm2": sem_unksm2,
    "bext01": sem_bext01,
    "invut": sem_invut,
    "regaut01": sem_regaut01,
    "multi01": sem_multi01,
    "mcl01": sem_mcl01,
    "bcast": sem_bcast,
    "zeromf": sem_zeromf,
    "cparam01": sem_cparam01,
    "cparam02": sem_cparam02,
    "regescrt": sem_regescrt,
    "sdp01": sem_sdp01,
    "inv2543": compat_inv2543,
}


def assert_status(response: bytes | None, status: int) -> None:
    assert response is not None
    parsed = parse_message(response)
    assert isinstance(parsed, Response) and parsed.status == status


@pytest.mark.parametrize("torture", ALL, ids=lambda t: f"{t.section}-{t.name}")
def test_rfc4475(torture: Torture) -> None:
    """Each RFC 4475 message, by class (see MANIFEST.tsv)."""
    if torture.cls == "valid":
        message = parse_message(torture.data)
        message.validate()
        VALID[torture.name](message)
    elif torture.cls == "invalid":
        status, words = INVALID[torture.name]
        assert_rejected(torture.data, status, words)
    else:
        OTHERS[torture.name]()


def test_every_message_has_specific_expectations() -> None:
    names = {t.name for t in ALL}
    assert names == set(VALID) | set(INVALID) | set(OTHERS)
    assert {t.name for t in ALL if t.cls == "valid"} == set(VALID)
    assert {t.name for t in ALL if t.cls == "invalid"} == set(INVALID)
