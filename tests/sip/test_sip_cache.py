"""The per-connection parse cache (sip/_cache.py): the results of a full parse, sooner.

A request parsed with a connection's ParseCache must give exactly what
``parse_message`` + ``validate()`` give without one: the same Request (start
line, headers, body), the same typed values, the same error for an invalid
request, including when a header's value was remembered from an earlier valid
request. What the cache shares between messages is immutable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sip_torture import ALL_NAMES, load

from sipoauth.sip import (
    ParseCache,
    Request,
    Response,
    SipError,
    SipUri,
    parse_message,
)
from sipoauth.sip._cache import ACCESSOR_KEYS
from sipoauth.sip._message import _Message
from sipoauth.sip._util import FrozenList, lazy
from sipoauth.sip._via import BranchTemplate, parse_via_line

TOKEN = "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0." + "QUJD" * 40 + ".aXY.Y3Q.dGFn"
_LAZY = sorted(name for name, value in vars(_Message).items() if isinstance(value, lazy))
ACCESSORS = [*_LAZY, "request_uri"]


def register(
    *,
    branch: str = "z9hG4bK-1",
    cseq: str = "1 REGISTER",
    start: str = "REGISTER sip:example.com SIP/2.0",
    replace: dict[int, str | None] | None = None,
    extra: Sequence[str] = (),
    body: bytes = b"",
) -> bytes:
    """A deployed phone's REGISTER; `replace` swaps (or, with None, drops) lines by index."""
    lines = [
        start,
        f"Via: SIP/2.0/TLS 192.0.2.10:5061;branch={branch};rport",
        "Max-Forwards: 70",
        "From: <sip:1001@example.com>;tag=f1",
        "To: <sip:1001@example.com>",
        "Call-ID: c1@192.0.2.10",
        f"CSeq: {cseq}",
        "Contact: <sip:1001@192.0.2.10:5061;transport=tls>"
        ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-001122334455>"'
        ';+u.sip!devicename.ccm.cisco.com="SEP001122334455"',
        "Expires: 3600",
        "Supported: replaces,join,X-cisco-config,path",
        f'Proxy-Authorization: Bearer token="{TOKEN}"',
        *extra,
        f"Content-Length: {len(body)}",
    ]
    for index, line in (replace or {}).items():
        lines[index] = line  # type: ignore[call-overload]
    return ("\r\n".join(line for line in lines if line is not None) + "\r\n\r\n").encode() + body


def outcome(data: bytes, cache: ParseCache | None) -> tuple[object, ...]:
    """Everything a caller can observe of parsing and validating `data`."""
    try:
        message = parse_message(data, cache=cache)
    except SipError as exc:
        return ("parse", exc.status, exc.reason)
    try:
        message.validate()
    except SipError as exc:
        return ("validate", exc.status, exc.reason, *observe(message))
    return observe(message)


def observe(message: Request | Response) -> tuple[object, ...]:
    """A parsed message as a caller sees it: start line, headers, body, typed values."""
    typed: dict[str, object] = {}
    for name in ACCESSORS:
        try:
            typed[name] = getattr(message, name)
        except AttributeError:
            typed[name] = "-"  # responses have no request_uri
        except SipError as exc:
            typed[name] = ("error", exc.status, exc.reason)
    start = (message.method, message.uri) if isinstance(message, Request) else (message.status,)
    return (*start, message.version, message.headers, message.body, typed)


def matched(request: object) -> bool:
    """Whether the cache parsed it by comparison (rather than in full)."""
    return isinstance(request, Request) and request._unchecked is not None


def learned() -> ParseCache:
    """A cache that has seen three valid re-REGISTERs (Via and CSeq vary)."""
    cache = ParseCache()
    for n in (1, 2, 3):
        request = parse_message(register(branch=f"z9hG4bK-{n}", cseq=f"{n} REGISTER"), cache=cache)
        request.validate()
    return cache


# -- the steady state -------------------------------------------------------------------


def test_re_register_is_matched_and_equals_a_full_parse() -> None:
    """From the third request on, Via and CSeq are the only lines read; results are equal."""
    cache = ParseCache()
    seen = []
    for n in range(1, 8):
        data = register(branch=f"z9hG4bK-{n}x", cseq=f"{n} REGISTER")
        request = parse_message(data, cache=cache)
        seen.append(matched(request))
        assert request.validated is False
        request.validate()
        assert request.validated is True
        assert observe(request) == outcome(data, None)
    assert seen == [False, False] + [True] * 5
    assert len(cache) == 1


def test_matched_request_checks_only_what_changed() -> None:
    """Via and CSeq are parsed by the match itself; validate() has nothing left to read."""
    request = parse_message(register(branch="z9hG4bK-9", cseq="9 REGISTER"), cache=learned())
    assert matched(request) and request._unchecked == ()
    assert request.top_via.branch == "z9hG4bK-9" and request.cseq.seq == 9
    request.validate()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"cseq": "9 INVITE"}, "CSeq method does not match the request method"),
        ({"cseq": "99999999999 REGISTER"}, "Invalid CSeq header"),
        ({"cseq": "x REGISTER"}, "Invalid CSeq header"),
        ({"branch": "z9hG4bK-[9]"}, "Invalid Via header"),
        ({"branch": 'z9"'}, "Invalid Via header"),
    ],
)
def test_variable_lines_are_still_checked(changes: dict[str, str], reason: str) -> None:
    """A variable line's new value gets the full check (and the same error)."""
    data = register(**changes)
    cache = learned()
    assert outcome(data, cache) == outcome(data, None)
    request = parse_message(data, cache=cache)
    with pytest.raises(SipError) as info:
        request.validate()
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "replace",
    [
        {8: "Expires: forever"},  # a line that was fixed, now invalid
        {8: "Expires: 60"},  # ... now another valid value
        {4: "To: <sip:1001@example.com>;tag=x;tag"},
        {2: None},  # a line less
        {2: "Max-Forwards: 70\r\nMax-Forwards: 70"},  # a line more
        {3: "From: <sip:1001@example.com>;tag=f1\r\n x=1"},  # folded
        {6: "CSeq: 2\rREGISTER"},  # lone CR in a variable line
        {1: "Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK-5\n;rport"},  # lone LF
        {0: "REGISTER sip:example.org SIP/2.0"},  # another start line
        {11: "l: 0"},  # same header, other spelling
    ],
)
def test_any_other_change_is_parsed_in_full(replace: dict[int, str | None]) -> None:
    data = register(branch="z9hG4bK-5", cseq="5 REGISTER", replace=replace)
    cache = learned()
    assert outcome(data, cache) == outcome(data, None)


def test_body_and_content_length() -> None:
    """Content-Length must cover exactly the rest of the octets; a changed one is re-read."""
    cache = learned()
    exact = register(cseq="5 REGISTER")
    assert matched(parse_message(exact, cache=cache))
    for data in (exact + b"junk", exact + exact, exact[:-1]):
        assert outcome(data, cache) == outcome(data, None)
    with_body = register(
        cseq="6 REGISTER", body=b"v=0\r\n", extra=["Content-Type: application/sdp"]
    )
    for _ in range(3):
        assert outcome(with_body, cache) == outcome(with_body, None)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 11),
            st.text(st.sampled_from(list(':;,<>"\\% \t=@[]?/*azAZ09.-\x00\xe9')), max_size=12),
            st.sampled_from(["append", "prefix", "replace", "branch", "cseq"]),
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutations_give_what_a_full_parse_gives(edits: list[tuple[int, str, str]]) -> None:
    """Whatever a request turns into, with a cache that learned from valid ones (and
    keeps learning), the outcome is the one of a full parse: value or error."""
    cache = learned()
    base = register().decode().split("\r\n")
    for n, (index, text, how) in enumerate(edits):
        lines = list(base)
        if how == "branch":
            data = register(branch="z9hG4bK-" + text, cseq=f"{n + 4} REGISTER")
        elif how == "cseq":
            data = register(branch=f"z9hG4bK-m{n}", cseq=text)
        else:
            if how == "append":
                lines[index] += text
            elif how == "prefix":
                lines[index] = text + lines[index]
            else:
                lines[index] = lines[index].partition(":")[0] + ":" + text
            data = "\r\n".join(lines).encode("utf-8", "surrogateescape")
        assert outcome(data, cache) == outcome(data, None), data
        valid = register(branch=f"z9hG4bK-v{n}", cseq=f"{n + 4} REGISTER")
        request = parse_message(valid, cache=cache)
        assert matched(request)  # still learned, whatever came before
        request.validate()
        assert observe(request) == outcome(valid, None)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_rfc4475_torture_through_a_cache(name: str) -> None:
    """Each torture message, three times on one cache (it may learn from the first):
    the result of a full parse every time."""
    data = load(name)
    cache = learned()
    expected = outcome(data, None)
    for _ in range(3):
        assert outcome(data, cache) == expected


def test_layouts_are_bounded() -> None:
    """At most max_layouts layouts: what the last message or two used."""
    cache = ParseCache(max_layouts=2)
    for n in range(6):
        for start in ("REGISTER sip:a.example SIP/2.0", "REGISTER sip:b.example SIP/2.0",
                      "REGISTER sip:c.example SIP/2.0"):  # fmt: skip
            parse_message(register(start=start, cseq=f"{n + 1} REGISTER"), cache=cache).validate()
            assert len(cache) <= 2
    with pytest.raises(ValueError):
        ParseCache(max_layouts=0)


def test_invalid_requests_are_not_learned() -> None:
    cache = ParseCache()
    bad = register(replace={8: "Expires: forever"})
    for n in range(4):
        request = parse_message(bad.replace(b"1 REGISTER", f"{n} REGISTER".encode()), cache=cache)
        with pytest.raises(SipError):
            request.validate()
    assert len(cache) == 0


def test_accessor_keys_cover_every_typed_accessor() -> None:
    """The cache remembers a typed value only when it knows which header it reads."""
    assert set(ACCESSORS) - set(ACCESSOR_KEYS) == {"content_length", "request_uri"}


# -- sharing is safe: immutable values -----------------------------------------------------


def test_shared_values_are_immutable() -> None:
    cache = learned()
    request = parse_message(register(cseq="7 REGISTER"), cache=cache)
    assert matched(request)
    request.validate()
    contact = request.contacts[0]
    uri = contact.uri
    assert isinstance(uri, SipUri)
    for obj, field in ((contact, "display_name"), (request.to, "uri"), (request.cseq, "seq"),
                       (request.top_via, "host"), (request.proxy_authorization[0], "scheme"),
                       (uri, "host")):  # fmt: skip
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)
    for mapping in (contact.params, uri.params, request.top_via.params):
        with pytest.raises(TypeError):
            mapping["x"] = "y"  # type: ignore[index]
    assert isinstance(request.contacts, FrozenList)
    with pytest.raises(TypeError):
        request.contacts.append(contact)
    with pytest.raises(TypeError):
        request.headers["contact"].append("x")
    # A request of its own: its lists are its own.
    request.headers["via"].append("SIP/2.0/TLS h")
    again = parse_message(register(cseq="8 REGISTER"), cache=cache)
    assert len(again.headers["via"]) == 1


def test_uri_built_by_hand_stays_adjustable() -> None:
    uri = SipUri("sip", "alice", None, "example.com")
    uri.password = "x"
    assert str(uri) == "sip:alice:x@example.com"


def test_derived_is_computed_once_per_value() -> None:
    calls: list[object] = []

    def user(to: object) -> str:
        calls.append(to)
        return "u"

    cache = learned()
    first = parse_message(register(cseq="5 REGISTER"), cache=cache)
    second = parse_message(register(cseq="6 REGISTER"), cache=cache)
    assert first.to is second.to  # the same parsed value, shared
    assert first.to.derived(user) == second.to.derived(user) == "u"
    assert len(calls) == 1


# -- the Via branch template -------------------------------------------------------------

_token = st.text(st.sampled_from(list("abcXYZ019-.!%*_+`'~")), min_size=1, max_size=12)


@given(
    branch=_token,
    other=_token,
    before=st.sampled_from(["", ";rport", ";received=192.0.2.1", ";ttl=3"]),
    after=st.sampled_from(["", ";rport", ";rport=5060", ";x=y;maddr=h.example"]),
    new=st.text(st.sampled_from(list("abc019-.!%*_+`~'\";:,= []<>@\t")), max_size=10),
)
def test_branch_template_equals_a_full_parse(
    branch: str, other: str, before: str, after: str, new: str
) -> None:
    raw = f"SIP/2.0/TLS h.example:5061{before};branch=z9hG4bK{branch}{after}"
    template = BranchTemplate.learn(raw, parse_via_line(raw))
    assert template is not None
    for candidate in (f"z9hG4bK{other}", new):
        text = raw.replace(f";branch=z9hG4bK{branch}", f";branch={candidate}")
        via = template.parse(text)
        try:
            expected = parse_via_line(text)
        except SipError:
            assert via is None
            continue
        assert via is None or [via] == expected


@pytest.mark.parametrize(
    "raw",
    [
        "SIP/2.0/TLS h;branch=z9hG4bK1;Branch=z9hG4bK2",  # another branch parameter
        "SIP/2.0/TLS h;branch=z9hG4bK1 ;rport",  # LWS after the value
        'SIP/2.0/TLS h;branch=z9hG4bK1;x="a"',  # a quoted-string
        "SIP/2.0/TLS h;rport",  # no branch
        "SIP/2.0/TLS a;branch=z9hG4bK1, SIP/2.0/TLS b;branch=z9hG4bK2",  # two values
    ],
)
def test_no_branch_template_when_unsure(raw: str) -> None:
    assert BranchTemplate.learn(raw, parse_via_line(raw)) is None


# -- values shared across connections --------------------------------------------------


def test_device_values_are_shared_across_connections() -> None:
    """A device's From, To and Contact parse once per process: a new connection (a new
    cache, or none) gets the same immutable objects."""
    first = parse_message(register(), cache=ParseCache())
    second = parse_message(register(branch="z9hG4bK-2"))
    for name in ("from_", "to", "contacts", "supported", "request_uri"):
        assert getattr(first, name) is getattr(second, name), name
    assert first.proxy_authorization[0] is not second.proxy_authorization[0]  # a token: not kept


def test_only_valid_values_are_shared() -> None:
    bad = register(replace={4: "To: <sip:1001@example.com>;tag="})
    for _ in range(2):
        with pytest.raises(SipError) as info:
            parse_message(bad).validate()
        assert info.value.reason == "Invalid To header"
