"""inspect_request: the UAS checks of RFC 3261 §8.2.1-§8.2.3."""

from __future__ import annotations

from sipoauth.sip import Request, Response, inspect_request, parse_message

UAS = {
    "allowed_methods": frozenset({"REGISTER", "OPTIONS", "INVITE"}),
    "known_methods": frozenset({"REGISTER", "OPTIONS", "INVITE", "ACK", "BYE", "CANCEL"}),
    "supported_options": frozenset({"path", "outbound"}),
    "accepted_body_types": {"INVITE": frozenset({"application/sdp"})},
}


def req(
    method: str = "REGISTER", uri: str = "sip:example.com", *lines: str, body: bytes = b""
) -> Request:
    text = "\r\n".join(
        [
            f"{method} {uri} SIP/2.0",
            "Via: SIP/2.0/TLS 192.0.2.1;branch=z9hG4bK1",
            "From: <sip:a@example.com>;tag=f",
            "To: <sip:a@example.com>",
            "Call-ID: c",
            f"CSeq: 1 {method}",
            "Max-Forwards: 70",
            *lines,
            f"Content-Length: {len(body)}",
        ]
    )
    m = parse_message(text.encode() + b"\r\n\r\n" + body)
    assert isinstance(m, Request)
    m.validate()
    return m


def answer(request: Request, **kw: object) -> Response | None:
    data = inspect_request(request, **UAS, **kw)  # type: ignore[arg-type]
    if data is None:
        return None
    response = parse_message(data)
    assert isinstance(response, Response)
    response.validate()
    return response


def test_acceptable_request_proceeds() -> None:
    assert answer(req("REGISTER", "sip:example.com", "Require: Path")) is None
    assert answer(req("INVITE", "sips:b@h", "Content-Type: application/sdp",
                      "Accept: application/*", body=b"v=0\r\n")) is None  # fmt: skip


def test_unknown_method_is_501() -> None:
    """RFC 3261 §8.2.1: a method the UAS does not know at all."""
    r = answer(req("FROBNICATE"))
    assert r is not None and r.status == 501


def test_known_but_not_allowed_is_405_with_allow() -> None:
    """RFC 3261 §8.2.1: 405 MUST list the allowed methods in Allow."""
    r = answer(req("BYE"))
    assert r is not None and r.status == 405
    assert r.allow == {"INVITE", "OPTIONS", "REGISTER"}


def test_non_sip_request_uri_is_416() -> None:
    """RFC 3261 §8.2.2.1 / RFC 4475 §3.3.2-3."""
    for uri in ("tel:+12015550123", "http://example.com/", "urn:x"):
        r = answer(req("OPTIONS", uri))
        assert r is not None and r.status == 416


def test_unknown_require_is_420_with_unsupported() -> None:
    """RFC 3261 §8.2.2.3: list each unsupported option tag (as sent)."""
    r = answer(req("OPTIONS", "sip:h", "Require: path, Foo", "Require: bar, foo",
                   "Proxy-Require: ignored-by-a-uas"))  # fmt: skip
    assert r is not None and r.status == 420
    assert r.get_all("unsupported") == ["Foo, bar"]


def test_cancel_and_ack_are_not_rejected_for_extensions() -> None:
    """RFC 3261 §8.2.2.3: never 420 for CANCEL / ACK; ACK is never answered."""
    assert answer(req("CANCEL", "sip:h", "Require: foo")) is not None  # 405: not allowed
    allowed = {**UAS, "allowed_methods": frozenset({"CANCEL"})}
    assert inspect_request(req("CANCEL", "sip:h", "Require: foo"), **allowed) is None  # type: ignore[arg-type]
    assert inspect_request(req("ACK", "tel:1", "Require: foo"), **UAS) is None  # type: ignore[arg-type]


def test_unsupported_body_type_is_415_with_accept() -> None:
    """RFC 3261 §8.2.3 / RFC 4475 §3.3.6 invut."""
    r = answer(req("INVITE", "sip:h", "Content-Type: application/unknownformat", body=b"x"))
    assert r is not None and r.status == 415 and r.get("accept") == "application/sdp"
    r = answer(req("REGISTER", "sip:h", "Content-Type: text/plain", body=b"x"))
    assert r is not None and r.status == 415 and r.get("accept") == ""


def test_unknown_content_encoding_is_415_with_accept_encoding() -> None:
    """RFC 3261 §8.2.3: list the encodings we understand."""
    r = answer(req("INVITE", "sip:h", "Content-Type: application/sdp", "Content-Encoding: gzip",
                   body=b"x"))  # fmt: skip
    assert r is not None and r.status == 415 and r.get("accept-encoding") == "identity"


def test_invite_accept_without_sdp_is_406() -> None:
    """RFC 4475 §3.3.15 sdp01."""
    r = answer(req("INVITE", "sip:h", "Accept: text/nobodyKnowsThis"))
    assert r is not None and r.status == 406
    assert answer(req("INVITE", "sip:h", "Accept: */*")) is None
    assert answer(req("INVITE", "sip:h")) is None


def test_to_tag_is_added() -> None:
    r = answer(req("FROBNICATE"), to_tag="uas1")
    assert r is not None and r.to.tag == "uas1"
