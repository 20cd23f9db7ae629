"""What the registrar remembers between requests must follow what it remembers from.

The registrar keeps response headers built from its settings (challenge,
prerequisite Retry-After / Warning) and facts derived from parsed Contacts and
Tos (`derived`). The node replaces the settings at run time, and a connection's
parse cache hands the same parsed values to every re-REGISTER: each answer must
still be the one computed from scratch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sipoauth.registrar import Flow, Registrar
from sipoauth.sip import Request, Response, parse_message

from ._support import DIRECT, EDGE, NOW, PHONE2, Minter

Req = Callable[..., Request]


def answer(registrar: Registrar, request: Request, flow: Flow) -> Response:
    response = parse_message(registrar.register(request, flow, NOW).response)
    assert isinstance(response, Response)
    return response


def test_replaced_settings_change_the_prerequisite_and_challenge(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    """Settings replaced by the node (service parameters changed): the next answers use them."""
    before = answer(registrar, req(token=mint()), EDGE)
    assert before.get("retry-after") == "35"
    assert (
        before.get("warning") == '399 cucm-pub.example.com "SIP OAuth Registration port Mismatch"'
    )
    registrar.settings = dataclasses.replace(
        registrar.settings, retry_after=99, host="cucm-sub.example.com", realm="other"
    )
    after = answer(registrar, req(token=mint()), EDGE)
    assert after.get("retry-after") == "99"
    assert after.get("warning") == '399 cucm-sub.example.com "SIP OAuth Registration port Mismatch"'
    challenge = answer(registrar, req(), DIRECT)
    assert challenge.status == 401
    assert 'realm="other"' in (challenge.get("www-authenticate") or "")


def test_facts_are_per_value(registrar: Registrar, req: Req, mint: Minter) -> None:
    """Facts remembered on one Contact never answer for another."""
    assert answer(registrar, req(token=mint(), cseq=1), DIRECT).status == 200
    other = req(token=mint(PHONE2), device=PHONE2, line="2001", cseq=1, call_id="c2")
    resp = answer(registrar, other, DIRECT)
    assert resp.status == 200
    assert any(PHONE2 in contact for contact in resp.values("contact"))
    resp = answer(registrar, req(token=mint(), cseq=2), DIRECT)
    assert resp.status == 200
    assert all(PHONE2 not in contact for contact in resp.values("contact"))
