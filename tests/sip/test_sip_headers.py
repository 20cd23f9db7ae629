"""Typed header values: RFC 3261 §20 / §25.1 rules, RFC 8898 Bearer credentials."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipoauth.sip import (
    AbsoluteUri,
    Contact,
    Credentials,
    NameAddr,
    RemoteProtocolError,
    Request,
    SipUri,
    Via,
    parse_message,
)
from sipoauth.sip._headers import parse_credentials, parse_cseq, parse_via, split_list
from sipoauth.sip._nameaddr import parse_contact, parse_name_addr

BASE = [
    "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKabc",
    "From: <sip:alice@example.com>;tag=f1",
    "To: <sip:alice@example.com>",
    "Call-ID: c1@192.0.2.1",
    "CSeq: 1 REGISTER",
    "Max-Forwards: 70",
]


def req(*lines: str, replace: bool = True) -> Request:
    names = {line.partition(":")[0] for line in lines}
    base = [b for b in BASE if not replace or b.partition(":")[0] not in names]
    text = "\r\n".join(["REGISTER sip:example.com SIP/2.0", *base, *lines, "Content-Length: 0"])
    m = parse_message((text + "\r\n\r\n").encode())
    assert isinstance(m, Request)
    return m


def invalid(*lines: str, header: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        req(*lines).validate()
    assert info.value.status == 400
    assert header in info.value.reason, info.value.reason


# --- lists (RFC 3261 §7.3.1) -------------------------------------------------------------------


def test_split_list_respects_quotes_and_angle_brackets() -> None:
    assert split_list('a, "b,c" <sip:x,y@h>;p="1,2" ,d') == ["a", '"b,c" <sip:x,y@h>;p="1,2"', "d"]
    assert split_list("a,,b") == ["a", "", "b"]
    for bad in ['"open, x', "<sip:a@b, c"]:
        with pytest.raises(RemoteProtocolError):
            split_list(bad)


# --- name-addr / addr-spec (RFC 3261 §20.10, §20.20, §20.39) -----------------------------------


@pytest.mark.parametrize(
    ("value", "display", "user", "params"),
    [
        ("<sip:a@h>", None, "a", {}),
        ("sip:a@h;tag=x", None, "a", {"tag": "x"}),  # addr-spec: ;params are header params
        ('"Bob \\"B\\" \\\\" <sip:b@h>;tag=1', 'Bob "B" \\', "b", {"tag": "1"}),
        ("Bob  Smith <sip:b@h>", "Bob  Smith", "b", {}),
        ("caller<sip:c@h>", "caller", "c", {}),  # RFC 4475 lwsdisp
        ('"" <sip:c@h>', "", "c", {}),
        ("<sip:a@h;transport=tcp>;Expires = 60 ; Q=0.5", None, "a", {"expires": "60", "q": "0.5"}),
        ('<sip:a@h>;x="a;b,c"', None, "a", {"x": '"a;b,c"'}),
        ("<sip:a@h>;maddr=[2001:db8::1]", None, "a", {"maddr": "[2001:db8::1]"}),
        ('"Ünïcödé" <sip:u@h>', "Ünïcödé", "u", {}),
    ],
)
def test_name_addr_forms(
    value: str, display: str | None, user: str, params: dict[str, str | None]
) -> None:
    """RFC 3261 §25.1: name-addr / addr-spec, display-name, generic-param."""
    na = parse_name_addr(value)
    assert na.display_name == display
    assert isinstance(na.uri, SipUri) and na.uri.user == user
    assert na.params == params


@pytest.mark.parametrize(
    "value",
    [
        '"unterminated <sip:a@h>',  # RFC 4475 quotbal
        "< sip:a@h >",  # RFC 4475 badaspec
        "Bell, Alexander <sip:a@h>",  # RFC 4475 baddn
        "sip:a@h?Route=%3Csip:x%3E",  # RFC 4475 regbadct
        "sip:a@h,b@h",
        "<sip:a@h>;",
        "<sip:a@h>;tag",  # allowed by grammar: checked below for From/To tag
        "<sip:a@h>;=x",
        "<sip:a@h>;p=a b",
        "<sip:a@h> junk",
        "<>",
        "",
        '"a\x01" <sip:a@h>',  # qdtext excludes controls (quoted-pair does not)
    ],
)
def test_name_addr_syntax_errors(value: str) -> None:
    if value == "<sip:a@h>;tag":
        assert parse_name_addr(value).params == {"tag": None}
        return
    with pytest.raises(RemoteProtocolError):
        parse_name_addr(value)


def test_name_addr_only_forms() -> None:
    """RFC 3261 §20.30/§20.34, RFC 3327: Route, Record-Route and Path are name-addr only."""
    m = req("Path: <sip:edge@192.0.2.9;lr>, <sip:e2@h;lr>", "Route: <sip:r@h;lr>")
    m.validate()
    assert [str(p.uri) for p in m.path] == ["sip:edge@192.0.2.9;lr", "sip:e2@h;lr"]
    invalid("Path: sip:edge@192.0.2.9", header="Path")
    invalid("Route: <sip:r@h>, sip:x@y", header="Route")


@pytest.mark.parametrize("to", ["<sip:a@h>;tag", '<sip:a@h>;tag="x"', "<sip:a@h>;tag=[::1]"])
def test_tag_must_be_a_token(to: str) -> None:
    """RFC 3261 §25.1: tag-param = "tag" EQUAL token."""
    invalid(f"To: {to}", header="To")


def test_non_sip_uris_in_name_addr() -> None:
    """RFC 4475 §3.3.4: other schemes are syntactically valid."""
    assert parse_name_addr("<tel:+123>;tag=1").uri == AbsoluteUri("tel", "+123")
    assert parse_name_addr("urn:x:y;tag=1").params == {"tag": "1"}


_display = st.none() | st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\n"),
    max_size=10,
)
_token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,8}", fullmatch=True)
_gen_value = st.none() | _token | _token.map(lambda t: f'"{t} ;,"')


@given(
    _display,
    st.builds(
        SipUri,
        st.just("sip"),
        st.none() | _token,
        st.none(),
        st.just("h.example"),
        st.none() | st.integers(0, 65535),
        st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.none() | _token),
    ),
    st.dictionaries(_token.map(str.lower), _gen_value, max_size=4),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_name_addr_round_trip(
    display: str | None, uri: SipUri, params: dict[str, str | None]
) -> None:
    """parse(str(name_addr)) == name_addr."""
    na = NameAddr(display, uri, params)
    assert parse_name_addr(str(na)) == na


# --- Contact (RFC 3261 §20.10) ---------------------------------------------------------------


def test_contact_params() -> None:
    c = parse_contact(
        '<sip:8a7b@10.0.0.5:51234;transport=tls>;+sip.instance="<urn:uuid:0000-1111>"'
        ';+u.sip!devicename.ccm.cisco.com="SEP001122334455";expires=3600;q=0.7;video'
    )
    assert isinstance(c, Contact) and not c.is_star
    assert c.param_unquoted("+sip.instance") == "<urn:uuid:0000-1111>"
    assert c.param_unquoted("+u.sip!devicename.ccm.cisco.com") == "SEP001122334455"
    assert c.param_unquoted("video") is None and "video" in c.params
    assert c.param_unquoted("+SIP.Instance") == "<urn:uuid:0000-1111>"
    assert c.expires == 3600 and c.q == 0.7


@pytest.mark.parametrize(
    "bad", ["expires=4294967296", "expires=-1", "expires", "q=1.5", "q=0.1234", "q=a", "q"]
)
def test_contact_expires_and_q(bad: str) -> None:
    """RFC 3261 §25.1: c-p-expires = delta-seconds; c-p-q = qvalue."""
    with pytest.raises(RemoteProtocolError):
        parse_contact(f"<sip:a@h>;{bad}")


def test_contact_star() -> None:
    """RFC 3261 §10.2.2: Contact: * removes all bindings."""
    m = req("Contact: *", "Expires: 0")
    m.validate()
    [star] = m.contacts
    assert star.is_star and str(star) == "*"
    invalid("Contact: *, <sip:a@h>", header="Contact")
    with pytest.raises(RemoteProtocolError):
        req("Contact: *", "Contact: <sip:a@h>").validate()


def test_several_contacts_in_one_line() -> None:
    m = req('Contact: "A, B" <sip:a@h>;q=0.1, sip:b@h;expires=5, <tel:+1>')
    assert [c.display_name for c in m.contacts] == ["A, B", None, None]
    assert m.contacts[1].expires == 5 and m.contacts[2].uri == AbsoluteUri("tel", "+1")


# --- Via (RFC 3261 §20.42) -------------------------------------------------------------------


def test_via_parts() -> None:
    v = parse_via(
        "SIP / 2.0 / tls  Host.Example.COM : 5061 ; Branch = z9hG4bK1;received=192.0.2.7;rport=4444"
    )
    params = {"branch": "z9hG4bK1", "received": "192.0.2.7", "rport": "4444"}
    assert v == Via("SIP/2.0", "TLS", "host.example.com", 5061, params)
    assert v.sent_by == "host.example.com:5061" and v.rport == 4444 and v.has_magic_cookie
    assert (
        str(v) == "SIP/2.0/TLS host.example.com:5061;branch=z9hG4bK1;received=192.0.2.7;rport=4444"
    )


def test_via_ipv6() -> None:
    v = parse_via("SIP/2.0/UDP [2001:DB8::1]:5060;received=2001:db8::9;maddr=[::1];branch=z9hG4bKx")
    assert v.host == "[2001:db8::1]" and v.received == "2001:db8::9" and v.maddr == "[::1]"


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 UDP h",
        "SIP/2.0/UDP h:99999",
        "SIP/2.0/UDP h;branch",
        'SIP/2.0/UDP h;branch="quoted"',
        "SIP/2.0/UDP h;received=host.example",
        "SIP/2.0/UDP h;received=[::1]",
        "SIP/2.0/UDP h;ttl=256",
        "SIP/2.0/UDP h;rport=x",
        "SIP/2.0/UDP h;maddr=-bad",
        "SIP/2.0/UDP h;x=1:2",
        "SIP/2.0/UDP 192.0.2.15;;,;,,",  # RFC 4475 badinv01
        "SIP/2.0/UDP h junk",
    ],
)
def test_via_errors(value: str) -> None:
    """RFC 3261 §25.1 via-parm and the via-params rules."""
    with pytest.raises(RemoteProtocolError):
        parse_via(value)


def test_via_lines_and_top_via() -> None:
    m = req(
        "Via: SIP/2.0/TLS a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2",
        "v: SIP/2.0/TCP c.example;branch=z9hG4bK3",
        replace=True,
    )
    assert m.top_via.host == "a.example"
    assert [v.host for v in m.via] == ["a.example", "b.example", "c.example"]
    assert m.top_via is m.via[0] or m.top_via == m.via[0]


def test_magic_cookie() -> None:
    """RFC 3261 §8.1.1.7: branch starting with z9hG4bK (and more: RFC 4475 §3.2.1)."""
    assert parse_via("SIP/2.0/UDP h;branch=z9hG4bKx").has_magic_cookie
    assert not parse_via("SIP/2.0/UDP h;branch=z9hG4bK").has_magic_cookie
    assert not parse_via("SIP/2.0/UDP h;branch=Z9HG4BKx").has_magic_cookie
    assert not parse_via("SIP/2.0/UDP h").has_magic_cookie


# --- CSeq, Call-ID ---------------------------------------------------------------------------


def test_cseq() -> None:
    """RFC 3261 §20.16: 32-bit unsigned sequence number, LWS, method."""
    assert parse_cseq("0009 \t INVITE") == parse_cseq("9 INVITE")
    assert parse_cseq("4294967295 ACK").seq == 2**32 - 1
    for bad in ["4294967296 ACK", "-1 ACK", "1", "INVITE 1", "1 INV ITE", "1INVITE"]:
        with pytest.raises(RemoteProtocolError):
            parse_cseq(bad)


@pytest.mark.parametrize("bad", ["a b", "a@b@c", "@b", "a@", "é"])
def test_call_id_grammar(bad: str) -> None:
    """RFC 3261 §25.1: callid = word [ "@" word ]."""
    invalid(f"Call-ID: {bad}", header="Call-ID")


# --- Authorization / Proxy-Authorization (RFC 3261 §22, RFC 8898) ----------------------------

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln-_"


def test_bearer_token68_form() -> None:
    """RFC 8898 §2.1 / RFC 6750 §2.1: Authorization: Bearer <b64token>."""
    c = parse_credentials(f"Bearer {JWT}")
    assert c == Credentials("Bearer", {}, JWT)
    assert c.bearer_token == JWT
    assert parse_credentials("Bearer abc+/==").token68 == "abc+/=="


def test_bearer_token_param_form() -> None:
    """Deployed phones: Proxy-Authorization: Bearer token="<jwt>"."""
    c = parse_credentials(f'bearer token="{JWT}"')
    assert c.params == {"token": JWT} and c.token68 is None
    assert c.bearer_token == JWT  # scheme compared case-insensitively
    slow = parse_credentials(f'Bearer  TOKEN = "{JWT}" , realm="x"')
    assert slow.bearer_token == JWT and slow.params["realm"] == "x"
    assert parse_credentials('Bearer token="a\\"b"').bearer_token == 'a"b'


def test_digest_credentials() -> None:
    c = parse_credentials(
        'Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com",'
        ' response="245f23415f11432b3434341c022", algorithm=MD5, nc=00000001, qop=auth'
    )
    assert c.scheme == "Digest" and c.bearer_token is None
    assert c.params["uri"] == "sip:bob@biloxi.com" and c.params["nc"] == "00000001"


@pytest.mark.parametrize(
    "bad",
    ["Bearer", "Bearer ", "Bearer a b", 'Bearer token="x', 'Bearer token="a\x01b"',
     "Digest realm=a realm=b", 'Bearer token="a", token="b"', "Be arer x", ""],
)  # fmt: skip
def test_credentials_errors(bad: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_credentials(bad)


def test_authorization_headers_on_a_request() -> None:
    m = req(f"Authorization: Bearer {JWT}", f'Proxy-Authorization: Bearer token="{JWT}"')
    m.validate()
    assert m.authorization[0].bearer_token == m.proxy_authorization[0].bearer_token == JWT
    invalid("Authorization: Bearer", header="Authorization")


# --- option tags, media types, encodings, Allow, Retry-After, Warning --------------------------


def test_option_tags_lowercased() -> None:
    """RFC 3261 §20.32/§20.37: option-tag lists."""
    m = req("Supported: Path, outbound ,GRUU", "Supported:", "Require: path", "Proxy-Require: x")
    m.validate()
    assert m.supported == {"path", "outbound", "gruu"}
    assert m.require == {"path"} and m.proxy_require == {"x"}
    assert req().supported == frozenset()
    invalid("Require:", header="Require")
    invalid("Supported: a b", header="Supported")
    invalid("Supported: a,,b", header="Supported")


def test_content_type_accept_encodings_allow() -> None:
    m = req(
        "Content-Type: Application/SDP ; charset=utf-8",
        "Accept: application/sdp;level=1, */*;q=0.1, text/*",
        "Accept-Encoding: gzip;q=1.0, identity",
        "Content-Encoding: GZIP",
        "Allow: INVITE, ACK, REGISTER",
    )
    m.validate()
    assert m.content_type == "application/sdp"
    assert m.accept == ["application/sdp", "*/*", "text/*"]
    assert m.accept_encoding == ["gzip", "identity"]
    assert m.content_encoding == ["gzip"]
    assert m.allow == {"INVITE", "ACK", "REGISTER"}
    assert req("Accept:").accept == [] and req().accept is None
    for line, header in [
        ("Content-Type: text", "Content-Type"),
        ("Content-Type: text/plain;charset", "Content-Type"),
        ("Accept: text", "Accept"),
        ("Content-Encoding: gzip;q=1", "Content-Encoding"),
        ("Allow: IN VITE", "Allow"),
    ]:
        invalid(line, header=header)


def test_retry_after_and_warning() -> None:
    """RFC 3261 §20.33 / §20.43 (RFC 4475 scalarlg)."""
    req("Retry-After: 18000 (in (nested) comment) ;duration=3600").validate()
    req('Warning: 301 isi.edu "Incompatible network address type", 399 h:5060 "x"').validate()
    invalid("Retry-After: 4294967296", header="Retry-After")
    invalid("Retry-After: 5 (unbalanced", header="Retry-After")
    invalid('Warning: 1812 overture "In Progress"', header="Warning")


def test_sip_uri_accessor() -> None:
    """RFC 4475 §3.3.4: a non-SIP To is valid syntax; a registrar needs a SIP AOR."""
    assert parse_name_addr("<sip:a@h>").sip_uri.user == "a"
    with pytest.raises(RemoteProtocolError) as info:
        parse_name_addr("isbn:2983792873").sip_uri  # noqa: B018
    assert info.value.status == 400
