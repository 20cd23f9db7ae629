"""REGISTER processing, RFC 3261 §10.3 order, with the RFC 8898 bearer check (R11)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sipoauth.registrar import DirectorySnapshot, Registrar, RegistrarSettings
from sipoauth.sip import Request, Response, parse_message

from ._support import DIRECT, EDGE, NOW, PHONE, PHONE2, SOFT, Minter

Req = Callable[..., Request]


def answer(registrar: Registrar, request: Request, flow=DIRECT, now: float = NOW) -> Response:
    outcome = registrar.register(request, flow, now)
    response = parse_message(outcome.response)
    assert isinstance(response, Response)
    assert response.status == outcome.status
    return response


# -- success ------------------------------------------------------------------------


def test_r11_valid_token_registers_and_lists_binding(registrar, req: Req, mint: Minter) -> None:
    """R11 / RFC 3261 §10.3 step 8: 200 lists every binding with its expires, and Date."""
    resp = answer(registrar, req(token=mint()))
    assert resp.status == 200
    contacts = resp.values("contact")
    assert len(contacts) == 1
    assert "expires=120" in contacts[0]
    assert "+sip.instance" in contacts[0]
    assert resp.get("date") is not None and resp.get("date").endswith("GMT")
    assert resp.get("expires") == "120"
    assert resp.to.tag  # RFC 3261 §8.2.6.2: the UAS adds a To tag
    assert len(registrar.table) == 1


def test_reference_proxy_authorization_form_accepted(registrar, req: Req, mint: Minter) -> None:
    """REFERENCE-BEHAVIOUR: `Proxy-Authorization: Bearer token="…"` as deployed phones send."""
    resp = answer(registrar, req(token=mint(), proxy_form=True))
    assert resp.status == 200


def test_server_grants_its_own_interval(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 7: the registrar may shorten; asked 3600, granted 120."""
    resp = answer(registrar, req(token=mint(), expires=3600))
    assert resp.get("expires") == "120"
    resp = answer(registrar, req(token=mint(), expires=90, cseq=2))
    assert resp.get("expires") == "90"


def test_contact_expires_param_wins_over_header(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 7: the Contact `expires` parameter takes precedence over Expires."""
    resp = answer(registrar, req(token=mint(), expires=3600, contact_expires=75))
    assert "expires=75" in resp.values("contact")[0]


def test_default_interval_when_no_expiry_given(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 7: neither parameter nor header -> the server's default."""
    resp = answer(registrar, req(token=mint(), expires=None))
    assert "expires=120" in resp.values("contact")[0]


def test_soft_client_token_of_owner_registers(registrar, req: Req, mint: Minter) -> None:
    """R1.2: a soft client's token is issued to its user; the device is the user's."""
    resp = answer(registrar, req(token=mint("jdoe"), device=SOFT))
    assert resp.status == 200


# -- challenges and token errors (RFC 8898 §2.3, RFC 6750 §3) --------------------------


def test_rfc8898_challenge_without_credentials(registrar, req: Req) -> None:
    """RFC 8898 §2.3: 401 + WWW-Authenticate: Bearer realm, authz_server."""
    resp = answer(registrar, req())
    assert resp.status == 401
    challenge = resp.get("www-authenticate")
    assert challenge.startswith('Bearer realm="ccmsipline"')
    assert 'authz_server="https://cucm-pub.example.com:8443"' in challenge
    assert "error=" not in challenge


def test_proxy_style_challenge_setting(keys, directory, req: Req) -> None:
    """REFERENCE-BEHAVIOUR step 2: 407 + Proxy-Authenticate when the node is set so."""
    from sipoauth.oauth import AccessTokenVerifier

    from ._support import AUDIENCE, ISSUER

    settings = RegistrarSettings(challenge_style="proxy", authz_server=ISSUER)
    verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    reg = Registrar(settings, directory, verifier, tag_factory=lambda: "x")
    resp = answer(reg, req())
    assert resp.status == 407
    assert resp.get("proxy-authenticate").startswith('Bearer realm="ccmsipline"')


def test_unknown_scheme_is_challenged(registrar, req: Req) -> None:
    """RFC 4475 §3.3.7: an unknown Authorization scheme gets a challenge, not a 400."""
    resp = answer(registrar, req(extra=["Authorization: NoOneKnowsThisScheme opaque-data=here"]))
    assert resp.status == 401


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("expired", lambda m: m(now=NOW - 7200, lifetime=3600)),
        ("wrong audience", lambda m: m(audience="urn:sipoauth:cluster:other")),
        ("wrong issuer", lambda m: m(issuer="https://evil.example.com")),
        ("garbage", lambda m: "not-a-token"),
    ],
)
def test_invalid_token_gets_401_invalid_token(
    registrar, req: Req, mint: Minter, case, make
) -> None:
    """RFC 6750 §3.1 / RFC 8898 §2.3: a bad token gets 401 with error="invalid_token"."""
    resp = answer(registrar, req(token=make(mint)))
    assert resp.status == 401, case
    assert 'error="invalid_token"' in resp.get("www-authenticate")
    assert len(registrar.table) == 0


def test_another_clusters_token_rejected(registrar, req: Req, mint: Minter, other_keys) -> None:
    """A token signed and encrypted by another cluster's keys is invalid_token."""
    resp = answer(registrar, req(token=mint(keys=other_keys)))
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.get("www-authenticate")


def test_invalid_token_in_proxy_form_answered_with_407(registrar, req: Req) -> None:
    """The challenge answers in the header form the client used."""
    resp = answer(registrar, req(token="bogus", proxy_form=True))
    assert resp.status == 407
    assert 'error="invalid_token"' in resp.get("proxy-authenticate")


def test_revoked_grant_rejected(registrar, directory: DirectorySnapshot, req: Req, mint) -> None:
    """DESIGN Tokens: a revoked grant (sid) fails at once, even with an unexpired token."""
    directory.revoked.add("grant-revoked")
    resp = answer(registrar, req(token=mint(sid="grant-revoked")))
    assert resp.status == 401
    assert "revoked" in resp.get("www-authenticate")


def test_scope_must_allow_registration(registrar, req: Req, mint: Minter) -> None:
    """RFC 6750 §3.1: a token without the SIP scope gets 403 insufficient_scope."""
    resp = answer(registrar, req(token=mint(scope="config:read")))
    assert resp.status == 403
    assert 'error="insufficient_scope"' in resp.get("www-authenticate")


# -- authorization (403) ------------------------------------------------------------


def test_token_for_another_device_forbidden(registrar, req: Req, mint: Minter) -> None:
    """DESIGN: a valid token that is not for this device gets 403 (not 401)."""
    resp = answer(registrar, req(token=mint(PHONE2)))
    assert resp.status == 403
    assert resp.get("warning") is None


def test_line_not_on_device_forbidden(registrar, req: Req, mint: Minter) -> None:
    """R11: a line (To user) that exists elsewhere but not on the device: 403."""
    resp = answer(registrar, req(token=mint(), line="2001"))
    assert resp.status == 403


def test_unknown_aor_not_found(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 5: an address-of-record the domain does not know: 404."""
    resp = answer(registrar, req(token=mint(), line="9999"))
    assert resp.status == 404


def test_request_uri_domain_not_served(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 1 / §21.4.5: a domain this registrar does not serve: 404."""
    resp = answer(registrar, req(token=mint(), ruri="sip:elsewhere.example.net"))
    assert resp.status == 404


# -- prerequisites: 403 + Retry-After + Warning 399 (REFERENCE-BEHAVIOUR) ------------


def _assert_prerequisite(resp: Response) -> None:
    assert resp.status == 403
    assert resp.get("retry-after") == "35"
    assert resp.get("warning") == '399 cucm-pub.example.com "SIP OAuth Registration port Mismatch"'


def test_r7_mode_off_is_prerequisite_failure(registrar, directory, req: Req, mint) -> None:
    """R7: with SIP OAuth mode off nothing registers on the OAuth ports."""
    directory.oauth_mode = False
    _assert_prerequisite(answer(registrar, req(token=mint())))


def test_r9_profile_without_oauth(registrar, req: Req, mint: Minter) -> None:
    """R9: a device whose security profile lacks OAuth cannot register here."""
    resp = answer(
        registrar, req(token=mint("SEPDEADBEEF0000"), device="SEPDEADBEEF0000", line="3001")
    )
    _assert_prerequisite(resp)


def test_unknown_device_is_prerequisite_failure(registrar, req: Req, mint: Minter) -> None:
    resp = answer(registrar, req(token=mint("SEP0000000000FF"), device="SEP0000000000FF"))
    _assert_prerequisite(resp)


def test_r5_direct_registration_on_mra_port(registrar, req: Req, mint: Minter) -> None:
    """R5: the MRA port takes registrations through the edge (with Path) only."""
    _assert_prerequisite(answer(registrar, req(token=mint()), flow=EDGE))


def test_r5_edge_registration_on_phone_port(registrar, req: Req, mint: Minter) -> None:
    """R5: an edge registration (Path) arriving on the SIP Phone OAuth Port."""
    extra = ["Path: <sip:expc.example.com;lr>"]
    _assert_prerequisite(answer(registrar, req(token=mint(), extra=extra)))


def test_unauthenticated_request_learns_nothing_about_devices(registrar, req: Req) -> None:
    """No device oracle: unknown and known devices get the same challenge without a token."""
    a = answer(registrar, req(device="SEP0000000000FF"))
    b = answer(registrar, req(device=PHONE))
    assert a.status == b.status == 401


# -- edge registrations keep their Path (RFC 3327) ------------------------------------


def test_rfc3327_edge_registration_keeps_and_echoes_path(registrar, req: Req, mint: Minter) -> None:
    """RFC 3327 §5.3: the registrar stores Path and echoes it when the UA supports path."""
    extra = ["Path: <sip:expc.example.com;lr>", "Supported: path"]
    resp = answer(registrar, req(token=mint(), extra=extra), flow=EDGE)
    assert resp.status == 200
    assert resp.get_all("path") == ["<sip:expc.example.com;lr>"]
    (binding,) = list(registrar.table)
    assert binding.path == ("<sip:expc.example.com;lr>",)
    assert binding.via_edge


def test_rfc3327_path_not_echoed_without_supported(registrar, req: Req, mint: Minter) -> None:
    extra = ["Path: <sip:expc.example.com;lr>"]
    resp = answer(registrar, req(token=mint(), extra=extra), flow=EDGE)
    assert resp.status == 200
    assert resp.get_all("path") == []


# -- contacts, wildcard, expiry, ordering ---------------------------------------------


def test_423_interval_too_brief(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 7: a non-zero expiry below the minimum gets 423 + Min-Expires."""
    resp = answer(registrar, req(token=mint(), expires=10))
    assert resp.status == 423
    assert resp.get("min-expires") == "60"
    assert len(registrar.table) == 0


def test_star_requires_expires_zero(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 6: `Contact: *` only with Expires: 0 — otherwise 400."""
    resp = answer(registrar, req(token=mint(), contacts=["*"], expires=3600))
    assert resp.status == 400


def test_star_must_be_alone(req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 6: `*` with another Contact is a 400 (caught by validation)."""
    from sipoauth.sip import RemoteProtocolError

    contacts = ["*", "<sip:1001@192.0.2.10>"]
    with pytest.raises(RemoteProtocolError) as info:
        req(token=mint(), contacts=contacts, expires=0)
    assert info.value.status == 400


def test_star_removes_this_devices_bindings(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 6: `*` with Expires: 0 removes the bindings (of this device)."""
    token = mint()
    assert answer(registrar, req(token=token)).status == 200
    soft = answer(
        registrar,
        req(token=mint("jdoe"), device=SOFT, instance="<urn:uuid:soft>", call_id="soft-call"),
    )
    assert soft.status == 200
    assert len(registrar.table) == 2
    resp = answer(registrar, req(token=token, contacts=["*"], expires=0, cseq=2))
    assert resp.status == 200
    remaining = list(registrar.table)
    assert [b.device for b in remaining] == [SOFT]


def test_expires_zero_removes_one_binding(registrar, req: Req, mint: Minter) -> None:
    token = mint()
    answer(registrar, req(token=token))
    resp = answer(registrar, req(token=token, expires=0, cseq=2))
    assert resp.status == 200
    assert resp.values("contact") == []
    assert len(registrar.table) == 0


def test_old_cseq_same_call_id_is_refused(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 7: same Call-ID and a CSeq not higher: the update fails (500)."""
    token = mint()
    assert answer(registrar, req(token=token, cseq=5)).status == 200
    resp = answer(registrar, req(token=token, cseq=5, branch="z9hG4bK-other"))
    assert resp.status == 500
    resp = answer(registrar, req(token=token, cseq=4, branch="z9hG4bK-other2"))
    assert resp.status == 500


def test_new_call_id_replaces_binding_of_same_instance(registrar, req: Req, mint: Minter) -> None:
    """RFC 5626 §6: the same instance re-registering replaces its binding (not a second one)."""
    token = mint()
    answer(registrar, req(token=token, cseq=5))
    resp = answer(
        registrar,
        req(
            token=token,
            cseq=1,
            call_id="after-reboot",
            contact_uri="sip:1001@192.0.2.11:50001;transport=tls",
        ),
    )
    assert resp.status == 200
    assert len(resp.values("contact")) == 1
    assert "192.0.2.11" in resp.values("contact")[0]


def test_all_or_nothing_update(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.3 step 7-8: if one contact fails, no contact of the request is applied."""
    contacts = [
        '<sip:1001@192.0.2.10>;+u.sip!devicename.ccm.cisco.com="SEP001122334455";expires=120',
        '<sip:1001@192.0.2.12>;+u.sip!devicename.ccm.cisco.com="SEP001122334455";expires=5',
    ]
    resp = answer(registrar, req(token=mint(), contacts=contacts))
    assert resp.status == 423
    assert len(registrar.table) == 0


def test_bindings_expire_on_time(registrar, req: Req, mint: Minter) -> None:
    """RFC 3261 §10.2.1: a binding lives for its granted interval, then is gone."""
    answer(registrar, req(token=mint()))
    assert registrar.expire(NOW + 119) == []
    gone = registrar.expire(NOW + 120.5)
    assert len(gone) == 1 and gone[0].binding is None
    assert len(registrar.table) == 0


def test_refreshed_binding_does_not_expire_early(registrar, req: Req, mint: Minter) -> None:
    token = mint()
    answer(registrar, req(token=token, cseq=1))
    answer(registrar, req(token=token, cseq=2), now=NOW + 100)
    assert registrar.expire(NOW + 150) == []
    assert len(registrar.table) == 1
    assert len(registrar.expire(NOW + 221)) == 1


def test_drop_grant_removes_live_bindings(registrar, req: Req, mint: Minter) -> None:
    """DESIGN Tokens: revocation drops live registrations of the revoked grant."""
    answer(registrar, req(token=mint(sid="g-1")))
    changes = registrar.drop_grant("g-1")
    assert len(changes) == 1
    assert len(registrar.table) == 0


def test_binding_limit_per_aor(keys, directory, req: Req, mint: Minter) -> None:
    from sipoauth.oauth import AccessTokenVerifier

    from ._support import AUDIENCE, ISSUER

    settings = RegistrarSettings(max_bindings_per_aor=1, authz_server=ISSUER)
    verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    reg = Registrar(settings, directory, verifier, tag_factory=lambda: "x")
    assert answer(reg, req(token=mint())).status == 200
    resp = answer(reg, req(token=mint("jdoe"), device=SOFT, instance="<urn:uuid:2>", call_id="c2"))
    assert resp.status == 403
    assert len(reg.table) == 1


def test_contacts_naming_two_devices_refused(registrar, req: Req, mint: Minter) -> None:
    contacts = [
        '<sip:1001@192.0.2.10>;+u.sip!devicename.ccm.cisco.com="SEP001122334455"',
        '<sip:1001@192.0.2.12>;+u.sip!devicename.ccm.cisco.com="SEP00AABBCCDDEE"',
    ]
    assert answer(registrar, req(token=mint(), contacts=contacts)).status == 400


def test_rfc6750_s2_token_sent_by_two_methods_is_400(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    """RFC 6750 §2: clients MUST NOT use more than one method; §3.1 invalid_request,
    400. Both forms at once, or the same form twice, are refused; nothing registers."""
    token = mint(PHONE)
    both = answer(
        registrar, req(token=token, extra=[f'Proxy-Authorization: Bearer token="{token}"'])
    )
    assert both.status == 400
    twice = answer(registrar, req(token=token, extra=[f"Authorization: Bearer {token}"]))
    assert twice.status == 400
    assert len(registrar.table) == 0
