"""Micro-benchmark of the SIP parser on a realistic 1.2 KB REGISTER.

Prints µs per operation (best of several rounds, so scheduler noise does not
count):

* split: ``parse_message`` alone (start line + header lines: unfolding,
  compact names, canonical keys, Content-Length);
* read: on a fresh parse, reading the headers a registrar needs (top Via,
  From tag, To URI + tag, Call-ID, CSeq, one Contact with params, Expires,
  Proxy-Authorization bearer token);
* validate: ``validate()`` on a fresh parse (it reads every known header);
* full: parse + validate + the registrar's reads (cached by validate);
* build_response: a 200 OK with a To tag, Contact, Expires and Date;
* baseline: the bare minimum in Python, ``split("\\r\\n")`` + ``partition(":")``
  per line, to calibrate this machine against others.

Run: ``.venv/bin/python bench/sip_parse.py``
"""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable

from sipoauth.sip import Request, build_response, parse_message

TOKEN = (
    "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwiY3R5IjoiSldUIiwia2lkIjoiMSJ9."
    + "Qm9ndXNLZXlfXzAxMjM0NTY3ODlhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ekFCQ0RFRkdISUpL"
    + "."
    + "aXYtMDEyMzQ1Njc4OWFi."
    + "Y2lwaGVydGV4dC1vZi10aGUtbmVzdGVkLUpXUy0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0"
    + "."
    + "dGFnLTAxMjM0NTY3ODlhYmNkZWY"
)

REGISTER = (
    "REGISTER sip:cucm-pub.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 10.20.30.40:51234;branch=z9hG4bK5f3a2b1c9d8e;rport\r\n"
    "From: <sip:1001@cucm-pub.example.com>;tag=00112233445566778899aabb-1c2d3e4f\r\n"
    "To: <sip:1001@cucm-pub.example.com>\r\n"
    "Call-ID: 00112233-44550002-5a6b7c8d-9e0f1a2b@10.20.30.40\r\n"
    "Max-Forwards: 70\r\n"
    "Date: Tue, 05 May 2026 10:00:00 GMT\r\n"
    "CSeq: 101 REGISTER\r\n"
    "User-Agent: Cisco-CP8865/14.2.1\r\n"
    "Contact: <sip:8a7b6c5d-4e3f-2a1b-0c9d-8e7f6a5b4c3d@10.20.30.40:51234;transport=tls>"
    ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122334455>"'
    ';+u.sip!devicename.ccm.cisco.com="SEP001122334455"'
    ';+u.sip!model.ccm.cisco.com="36670";video\r\n'
    "Supported: replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,"
    "X-cisco-callinfo,X-cisco-serviceuri,X-cisco-escapecodes,X-cisco-service-control,"
    "X-cisco-srtp-fallback,X-cisco-monrec,X-cisco-config,X-cisco-sis-7.0.0\r\n"
    'Reason: SIP;cause=200;text="cisco-alarm:14 Name=SEP001122334455"\r\n'
    "Expires: 3600\r\n"
    f'Proxy-Authorization: Bearer token="{TOKEN}"\r\n'
    "Content-Length: 0\r\n"
    "\r\n"
).encode()


def read_registrar_headers(request: Request) -> object:
    """What the registrar reads from a REGISTER."""
    contact = request.contacts[0]
    return (
        request.top_via.branch,
        request.top_via.sent_by,
        request.from_.tag,
        request.to.uri,
        request.to.tag,
        request.call_id,
        request.cseq.seq,
        contact.uri,
        contact.param_unquoted("+sip.instance"),
        contact.param_unquoted("+u.sip!devicename.ccm.cisco.com"),
        contact.expires,
        request.expires,
        request.proxy_authorization[0].bearer_token,
    )


def baseline(data: bytes) -> object:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0].split(" "), headers, body


def best(func: Callable[[], object], number: int = 2000, repeat: int = 40) -> float:
    """Best µs of CPU per call over ``repeat`` rounds of ``number`` calls.

    Process CPU time, not wall time, so other load on the machine disturbs
    the figures less.
    """
    rounds = timeit.repeat(func, number=number, repeat=repeat, timer=time.process_time)
    return min(rounds) / number * 1e6


def main() -> None:
    request = parse_message(REGISTER)
    assert isinstance(request, Request)
    request.validate()
    read_registrar_headers(request)

    def parse_only() -> object:
        return parse_message(REGISTER)

    def parse_and_read() -> object:
        req = parse_message(REGISTER)
        assert isinstance(req, Request)
        return read_registrar_headers(req)

    def parse_and_validate() -> object:
        req = parse_message(REGISTER)
        assert isinstance(req, Request)
        req.validate()
        return req

    def full() -> object:
        req = parse_message(REGISTER)
        assert isinstance(req, Request)
        req.validate()
        return read_registrar_headers(req)

    extra = [
        ("Contact", "<sip:8a7b6c5d@10.20.30.40:51234;transport=tls>;expires=120"),
        ("Expires", "120"),
        ("Date", "Tue, 05 May 2026 10:00:00 GMT"),
    ]

    def respond() -> bytes:
        return build_response(request, 200, headers=extra, to_tag="a1b2c3d4")

    split_us = best(parse_only)
    read_us = best(parse_and_read) - split_us
    validate_us = best(parse_and_validate) - split_us
    full_us = best(full)
    build_us = best(respond)
    base_us = best(lambda: baseline(REGISTER))
    lines = REGISTER.count(b"\r\n") - 2
    print(f"message: {len(REGISTER)} bytes, {lines} header lines")
    print(f"baseline split+partition      {base_us:6.2f} µs")
    print(f"parse_message (split)          {split_us:6.2f} µs")
    print(f"  + registrar reads            {read_us:6.2f} µs")
    print(f"  + validate() (all headers)   {validate_us:6.2f} µs")
    print(f"parse + validate + reads       {full_us:6.2f} µs")
    print(f"build_response (200 OK)        {build_us:6.2f} µs")


if __name__ == "__main__":
    main()
