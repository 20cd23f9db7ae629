"""Splitting messages (RFC 3261 §7) and validate() rules, one test per rule."""

from __future__ import annotations

import pytest

from sipoauth.sip import (
    RemoteProtocolError,
    Request,
    Response,
    SipError,
    build_response,
    parse_head,
    parse_message,
)

VIA = "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKabc"
BASE = [
    VIA,
    "From: <sip:alice@example.com>;tag=f1",
    "To: <sip:alice@example.com>",
    "Call-ID: c1@192.0.2.1",
    "CSeq: 1 REGISTER",
    "Max-Forwards: 70",
]


def msg(*lines: str, start: str = "REGISTER sip:example.com SIP/2.0", body: bytes = b"") -> bytes:
    head = "\r\n".join([start, *lines]) + "\r\n\r\n"
    return head.encode() + body


def req(*extra: str, base: list[str] = BASE, **kw: object) -> Request:
    m = parse_message(msg(*base, *extra, f"Content-Length: {len(kw.get('body', b''))}", **kw))  # type: ignore[arg-type]
    assert isinstance(m, Request)
    return m


def rejected(data: bytes, status: int = 400) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data).validate()
    assert info.value.status == status
    return info.value


# --- §7.1 Request-Line / §7.2 Status-Line -----------------------------------------------------


def test_request_line_parts() -> None:
    """RFC 3261 §7.1: Method SP Request-URI SP SIP-Version."""
    m = req()
    assert (m.method, m.uri, m.version) == ("REGISTER", "sip:example.com", "SIP/2.0")
    m.validate()


@pytest.mark.parametrize(
    "start",
    [
        "REGISTER  sip:example.com SIP/2.0",  # two SPs (lwsstart)
        "REGISTER sip:example.com SIP/2.0 ",  # trailing SP (trws)
        " REGISTER sip:example.com SIP/2.0",  # leading SP
        "REGISTER sip:example.com",  # no version
        "REGISTER\tsip:example.com\tSIP/2.0",  # HTAB is not SP
        "REGISTER sip:example.com SIP/2",  # malformed SIP-Version
        "REGISTER sip:example.com HTTP/1.1",
    ],
)
def test_request_line_rejects_bad_separators_and_versions(start: str) -> None:
    """RFC 3261 §7.1 / RFC 4475 §3.1.2.9-10: exactly single SPs, SIP-Version."""
    rejected(msg(*BASE, start=start))


def test_other_sip_version_is_505() -> None:
    """RFC 3261 §8.2 / RFC 4475 §3.1.2.16: SIP/3.0 -> 505 Version Not Supported."""
    error = rejected(msg(*BASE, start="REGISTER sip:example.com SIP/3.0"), 505)
    assert error.reason == "Version Not Supported"


def test_sip_version_literal_is_case_insensitive() -> None:
    """RFC 3261 §25 (ABNF strings are case-insensitive): sip/2.0 is SIP/2.0."""
    assert parse_message(msg(*BASE, start="REGISTER sip:example.com sip/2.0")).version == "sip/2.0"


@pytest.mark.parametrize("method", ["REG ISTER", "REG\x00", "RÉGISTER", "REG;ISTER"], ids=repr)
def test_method_must_be_a_token(method: str) -> None:
    """RFC 3261 §25.1: Method = ... / extension-method (token)."""
    data = msg(*BASE[:4], f"CSeq: 1 {method}", start=f"{method} sip:example.com SIP/2.0")
    with pytest.raises(SipError):
        parse_message(data).validate()


@pytest.mark.parametrize("uri", ["<sip:example.com>", "sip:example.com?Route=x", "sip:a b"])
def test_request_uri_grammar(uri: str) -> None:
    """RFC 3261 §19.1.1 / RFC 4475 ltgtruri, escruri: no <>, no headers, no LWS."""
    with pytest.raises(RemoteProtocolError):
        parse_message(msg(*BASE, start=f"REGISTER {uri} SIP/2.0")).validate()


def test_status_line() -> None:
    """RFC 3261 §7.2: SIP-Version SP Status-Code SP Reason-Phrase (may be empty)."""
    m = parse_message(msg(*BASE[:5], start="SIP/2.0 180 "))
    assert isinstance(m, Response) and (m.status, m.reason) == (180, "")
    m.validate()


@pytest.mark.parametrize(
    "start", ["SIP/2.0 099 Low", "SIP/2.0 700 High", "SIP/2.0 20 OK", "SIP/2.0 2000 OK",
              "SIP/2.0 200", "SIP/2.0 2x0 OK"]
)  # fmt: skip
def test_status_code_is_three_digits_100_to_699(start: str) -> None:
    """RFC 3261 §21 / RFC 4475 §3.1.2.19 bigcode."""
    rejected(msg(*BASE[:5], start=start))


def test_reason_phrase_grammar() -> None:
    """RFC 3261 §25.1 Reason-Phrase: no control characters."""
    rejected(msg(*BASE[:5], start="SIP/2.0 200 O\x01K"))


# --- §7.3 header fields -------------------------------------------------------------------


def test_header_names_are_case_insensitive_and_compact_forms_expand() -> None:
    """RFC 3261 §7.3.1 / §7.3.3: names are case-insensitive; compact forms expand."""
    m = parse_message(
        msg(
            "v: SIP/2.0/UDP h;branch=z9hG4bK1",
            "f: <sip:a@b>;tag=1",
            "t: <sip:a@b>",
            "i: id1",
            "cSeQ: 1 REGISTER",
            "m: <sip:a@h>",
            "k: path",
            "l: 0",
            "o: presence",
            "u: dialog",
            "e: gzip",
            "c: text/plain",
            "s: hello",
            "r: <sip:x@y>",
            "b: <sip:z@y>",
            "x: 90",
            "j: *;audio",
            "a: *;video",
            "d: proxy",
            "y: sig",
            "n: <https://a>",
        )
    )
    assert set(m.headers) >= {
        "via", "from", "to", "call-id", "cseq", "contact", "supported", "content-length",
        "event", "allow-events", "content-encoding", "content-type", "subject", "refer-to",
        "referred-by", "session-expires", "reject-contact", "accept-contact",
        "request-disposition", "identity", "identity-info",
    }  # fmt: skip
    assert m.get("Call-ID") == m.get("i") == m.get("CALL-ID") == "id1"
    assert m.get("cseq") == "1 REGISTER"


def test_whitespace_before_colon_and_around_value() -> None:
    """RFC 3261 §7.3.1: HCOLON = *( SP / HTAB ) ":" SWS; values are trimmed."""
    m = parse_message(msg("Subject \t:  \t hello world \t", *BASE))
    assert m.get("subject") == "hello world"


@pytest.mark.parametrize("line", ["Bad Name: x", "Bad@Name: x", ": x", "NoColon"])
def test_header_name_must_be_a_token_followed_by_colon(line: str) -> None:
    """RFC 3261 §7.3: header-name = token, then HCOLON."""
    with pytest.raises(RemoteProtocolError):
        parse_message(msg(line, *BASE))


def test_folding_becomes_one_space() -> None:
    """RFC 3261 §7.3.1: a CRLF followed by SP/HTAB continues the value."""
    m = parse_message(msg("Subject: a  \r\n \t b\r\n\tc", "Subject:\r\n x", *BASE))
    assert m.get_all("subject") == ["a b c", "x"]


def test_many_continuation_lines_are_joined_in_linear_time() -> None:
    m = parse_message(msg("Subject: a" + "\r\n x" * 10000, *BASE))
    assert m.get("subject") == "a" + " x" * 10000


def test_start_line_cannot_be_folded() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_message(msg(" continued", *BASE))


@pytest.mark.parametrize(
    "bad", ["Subject: a\rb", "Subject: a\nb", "Subject: a\r", "Subject: a\r\r\n\nX: y"]
)
def test_bare_cr_or_lf_is_rejected(bad: str) -> None:
    """RFC 3261 §7: lines end with CRLF; a lone CR/LF could split a copied value."""
    with pytest.raises(RemoteProtocolError):
        parse_message(msg(bad, *BASE))


def test_get_get_all_values() -> None:
    """Raw accessors: first value, all lines, list elements."""
    m = req(
        "Route: <sip:a@b;lr>, <sip:c,d@e>",
        'Route: "x, y" <sip:f@g>',
        "Supported:",
    )
    assert m.get("route") == "<sip:a@b;lr>, <sip:c,d@e>"
    assert m.get_all("Route") == ["<sip:a@b;lr>, <sip:c,d@e>", '"x, y" <sip:f@g>']
    assert m.values("ROUTE") == ["<sip:a@b;lr>", "<sip:c,d@e>", '"x, y" <sip:f@g>']
    assert m.values("supported") == []
    assert m.get("nope") is None and m.get_all("nope") == [] and m.values("nope") == []


def test_leading_crlfs_are_ignored() -> None:
    """RFC 3261 §7.5: CRLFs before the start line are ignored."""
    assert isinstance(parse_message(b"\r\n\r\n" + msg(*BASE)), Request)


def test_missing_empty_line_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="Incomplete"):
        parse_message(msg(*BASE)[:-2])


def test_invalid_utf8_survives_into_responses_unchanged() -> None:
    """Header text is UTF-8 decoded with surrogateescape: no crash, byte-exact copy."""
    data = msg(*BASE).replace(b"tag=f1", b"tag=f1\xff")
    m = parse_message(data)
    assert isinstance(m, Request)
    with pytest.raises(RemoteProtocolError, match="From"):
        m.validate()
    assert b"tag=f1\xff" in build_response(m, 400)


# --- Content-Length and body (RFC 3261 §18.3, §20.14) ---------------------------------------


def test_body_is_content_length_octets_and_extra_is_discarded() -> None:
    """RFC 3261 §18.3 datagrams / RFC 4475 dblreq: octets beyond Content-Length dropped."""
    m = parse_message(msg(*BASE, "Content-Type: text/plain", "Content-Length: 3", body=b"abcdef"))
    assert m.body == b"abc" and m.content_length == 3


def test_without_content_length_the_body_is_the_rest() -> None:
    """RFC 3261 §20.14: optional on datagrams; RFC 4475 inv2543."""
    m = parse_message(msg(*BASE, "Content-Type: text/plain", body=b"xyz"))
    assert m.body == b"xyz"


@pytest.mark.parametrize(
    "lines", [("Content-Length: -1",), ("Content-Length: x",), ("Content-Length: 5",),
              ("Content-Length: 0", "l: 0"), ("Content-Length: 99999999999",)]
)  # fmt: skip
def test_bad_content_length(lines: tuple[str, ...]) -> None:
    """RFC 4475 ncl, clerr, mcl01: negative, non-numeric, too large, repeated."""
    with pytest.raises(RemoteProtocolError, match="Content-Length"):
        parse_message(msg(*BASE, *lines))


def test_message_over_max_size_is_513() -> None:
    """RFC 3261 §21.5.14 513 Message Too Large."""
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(msg(*BASE, "X-Big: " + "x" * 1000), max_size=1000)
    assert info.value.status == 513


def test_parse_head_ignores_a_broken_content_length() -> None:
    """parse_head: for answering a stream message whose framing failed."""
    head = msg(*BASE, "Content-Length: -5")
    m = parse_head(head)
    assert isinstance(m, Request) and m.body == b"" and m.call_id == "c1@192.0.2.1"


# --- validate(): mandatory and single-valued headers ---------------------------------------


@pytest.mark.parametrize("missing", ["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards"])
def test_mandatory_request_headers(missing: str) -> None:
    """RFC 3261 §8.1.1: To, From, CSeq, Call-ID, Max-Forwards, Via are mandatory."""
    lines = [line for line in BASE if not line.startswith(missing + ":")]
    error = rejected(msg(*lines))
    assert error.reason == f"Missing {missing} header"


def test_max_forwards_may_be_absent_from_an_rfc2543_request() -> None:
    """RFC 4475 §3.4.1: no magic cookie in the branch -> RFC 2543 client, no Max-Forwards."""
    lines = [line for line in BASE if not line.startswith(("Max-Forwards", "Via"))]
    parse_message(msg("Via: SIP/2.0/UDP 192.0.2.1;branch=old1", *lines)).validate()


@pytest.mark.parametrize(
    "dup",
    ["To: <sip:b@example.com>", "From: <sip:b@example.com>;tag=2", "Call-ID: c2",
     "CSeq: 2 REGISTER", "Max-Forwards: 9", "Expires: 5", "Date: Sat, 13 Nov 2010 23:29:00 GMT",
     "Content-Type: text/plain", "Min-Expires: 60", "Retry-After: 5"],
)  # fmt: skip
def test_single_valued_headers_appear_once(dup: str) -> None:
    """RFC 4475 §3.3.8 multi01: a repeated single-value header is a 400."""
    name = dup.partition(":")[0]
    lines = [*BASE, dup]
    if not any(line.startswith(name + ":") for line in BASE):
        lines.append(dup)
    error = rejected(msg(*lines))
    assert error.reason == f"Multiple {name} headers"


def test_cseq_method_must_match() -> None:
    """RFC 3261 §8.1.1.5 / RFC 4475 mismatch01."""
    error = rejected(msg(*BASE[:4], "CSeq: 1 INVITE", "Max-Forwards: 70"))
    assert "CSeq" in error.reason


@pytest.mark.parametrize(
    ("value", "ok"),
    [("0", True), ("0068", True), ("255", True), ("256", False), ("-1", False), ("1 2", False)],
)
def test_max_forwards_range(value: str, ok: bool) -> None:
    """RFC 3261 §20.22: Max-Forwards = 1*DIGIT, 0-255."""
    data = msg(*BASE[:5], f"Max-Forwards: {value}")
    if ok:
        parse_message(data).validate()
    else:
        assert "Max-Forwards" in rejected(data).reason


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0), ("4294967295", 2**32 - 1), ("000120", 120)]
)
def test_expires_delta_seconds(value: str, expected: int) -> None:
    """RFC 3261 §20.19: delta-seconds, up to 2**32-1."""
    m = req(f"Expires: {value}")
    m.validate()
    assert m.expires == expected


@pytest.mark.parametrize("value", ["4294967296", "-1", "1.5", "", "10 s"])
def test_expires_out_of_range_or_malformed(value: str) -> None:
    """RFC 3261 §20.19 / RFC 4475 scalar02: too large is invalid (400)."""
    assert "Expires" in rejected(msg(*BASE, f"Expires: {value}")).reason


def test_body_needs_content_type() -> None:
    """RFC 3261 §20.15: Content-Type MUST be present if the body is not empty."""
    error = rejected(msg(*BASE, "Content-Length: 2", body=b"hi"))
    assert error.reason == "Missing Content-Type header"


@pytest.mark.parametrize(
    "date", ["Sat, 13 Nov 2010 23:29:00 EST", "Sat, 13 Nov 2010 23:29:00 gmt",
             "13 Nov 2010 23:29:00 GMT", "Sat, 13 Nov 10 23:29:00 GMT"]
)  # fmt: skip
def test_date_is_rfc1123_gmt(date: str) -> None:
    """RFC 3261 §20.17 / RFC 4475 §3.1.2.12 baddate."""
    assert "Date" in rejected(msg(*BASE, f"Date: {date}")).reason


def test_unknown_headers_are_not_checked() -> None:
    req('X-Anything: ;;,,<<"', "User-Agent: (((").validate()


def test_response_validate_does_not_need_max_forwards() -> None:
    m = parse_message(msg(*BASE[:5], start="SIP/2.0 200 OK"))
    m.validate()
    assert isinstance(m, Response) and m.max_forwards is None


@pytest.mark.parametrize(
    ("name", "status"),
    [("badvers", 505), ("lwsstart", 400), ("trws", 400), ("lwsruri", 400), ("ncl", 400),
     ("clerr", 400), ("mcl01", 400)],
)  # fmt: skip
def test_start_line_errors_carry_the_request_to_answer(name: str, status: int) -> None:
    """RFC 4475 §3.1.2: the element should still answer (505 for badvers, else 400)."""
    from sip_torture import load

    with pytest.raises(RemoteProtocolError) as info:
        parse_message(load(name))
    error = info.value
    assert error.status == status and error.request is not None
    answer = parse_message(build_response(error.request, error.status, error.reason, to_tag="x"))
    assert isinstance(answer, Response) and answer.status == status
    assert answer.call_id == error.request.get("call-id") and answer.to.tag is not None


def test_errors_without_readable_headers_or_in_responses_carry_no_request() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(msg("Bad Name: x", *BASE))
    assert info.value.request is None
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(msg(*BASE[:5], start="SIP/2.0 2000 OK"))
    assert info.value.request is None
