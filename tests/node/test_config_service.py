"""Cisco TFTP on loopback (issue 5, R10): the node's configuration files over
real HTTP and TLS.

HTTP 6970 serves the bootstrap files only (``caconfig.json``,
``XMLDefault.cnf.xml``); HTTPS 6971 serves them too and ``/<DEVICE>.cnf.xml``
(also ``.cnf.xml.sgn``) to the holder of a Bearer access token for that device
(RFC 6750 §2.1, §3), with ETag / If-None-Match and gzip (RFC 9110 §8.8.3,
§12.5.3, §13.1.2); through an authenticated edge (mutual TLS, R12) the MRA
variant. Every document fetched is validated against the published schema
(``schema/device-config.xsd``). Configuration changes reach the running node
through the store's notifications; the tests wait for them, never for a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import ssl
import time

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from provisioning._schema import validate
from sipoauth import admin
from sipoauth.node import Node
from sipoauth.oauth import EncryptionKey, KeyRing, SigningKey
from sipoauth.pki import client_ssl_context

from ._authz_edge import (
    CSF_CLIENT,
    DESK_CLIENT,
    activate,
    add_phone,
    add_user,
    new_code,
    trust,
    unique_dn,
    until_known,
)
from ._authz_edge import web as web_port
from ._config import (
    Fetched,
    bearer,
    bundle_hash,
    config_servers,
    device_file,
    device_path,
    fetch,
    lines,
    members,
    pem_bundle,
    plain,
    reloaded,
    secure,
    text,
    tftp_ports,
    trust_certificates,
    until,
)
from ._support import EDGE_NAME, NODE, PHONE, PHONE2, Prepared

EDGE_ADDRESS = "192.0.2.50"
"""The prepared edge entry (names ``EDGE_NAME``; ``prepared.edge_cert`` is its certificate)."""
UNKNOWN = "SEP0000DEADBEEF"
"""A desk phone name no device has."""
CHALLENGE = re.compile(r'^Bearer realm="[^"]+"')
PHONE_EDGE_TRUST = "phone-edge-trust"
SHA256_OF_NOTHING = hashlib.sha256(b"").hexdigest()


def _json(got: Fetched) -> dict[str, object]:
    body: dict[str, object] = json.loads(got.body)
    return body


def _fingerprint(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


async def _nodes(node: Node) -> list[tuple[str, str, tuple[int, int, int, int]]]:
    """Every server record, publisher first: the Default group as a file lists it."""
    return [
        (n.name, n.host, (n.sip_port, n.secure_sip_port, n.oauth_port, n.mra_port))
        for n in await node.store.nodes.list()
    ]


async def _new_phone(node: Node, **fields: object) -> str:
    """A desk phone with the OAuth profile, known to the node."""
    name = f"SEP{secrets.token_hex(6).upper()}"
    await admin.add_device(
        node.store,
        name=name,
        model="8851",
        lines=[unique_dn()],
        profile=admin.OAUTH_PROFILE,
        **fields,  # type: ignore[arg-type]
    )
    await until_known(node, name)
    return name


# -- 6970: bootstrap only (issue 5 point 1) ----------------------------------------------


async def test_caconfig_lists_phone_edge_trust_on_both_ports_0_2_16_never_17(
    prepared: Prepared, node: Node
) -> None:
    """Point 1 (R3): caconfig.json lists phone-edge-trust — PEM and SHA-256 each, at most
    16 — identically on 6970 and 6971; its hash is the one every device file and
    XMLDefault.cnf.xml carry (phoneEdgeTrust/sha256), so a phone sees it change."""
    token = prepared.mint(PHONE)
    certs = trust_certificates(17, secrets.token_hex(3))
    async with plain(node) as bootstrap, secure(prepared, node) as tls:

        async def bundle() -> dict[str, object]:
            got = await fetch(bootstrap, "/caconfig.json")
            assert got.status == 200
            assert got.headers["content-type"] == "application/json"
            return _json(got)

        async def check(expected: list[str]) -> None:
            """``expected``: the PEMs phone-edge-trust holds now."""
            wanted = sorted(map(_fingerprint, expected))
            listed = await until(
                bundle,
                lambda b: sorted(e["sha256"] for e in b["certificates"]) == wanted,
                "bundle reloaded",
            )
            entries = listed["certificates"]
            assert isinstance(entries, list) and len(entries) == len(expected)
            for entry in entries:  # each PEM is the certificate its fingerprint names
                der = ssl.PEM_cert_to_DER_cert(entry["pem"])
                assert hashlib.sha256(der).hexdigest() == entry["sha256"]
            assert listed["sha256"] == (bundle_hash(expected) if expected else SHA256_OF_NOTHING)
            same = await fetch(tls, "/caconfig.json")
            assert (same.status, same.body) == (
                200,
                (await fetch(bootstrap, "/caconfig.json")).body,
            )
            for root in (
                await device_file(tls, PHONE, token),
                validate((await fetch(bootstrap, "/XMLDefault.cnf.xml")).body),
            ):
                assert text(root, "phoneEdgeTrust/sha256") == listed["sha256"]
                assert int(text(root, "phoneEdgeTrust/certificates")) == len(expected)

        # By fingerprint: the first one is kept for last, the 17th, which sorts first.
        certs.sort(key=lambda c: _fingerprint(pem_bundle([c]).decode()))
        pems = [pem_bundle([c]).decode() for c in certs]
        try:
            await check([])
            await admin.upload_trust(node.store, PHONE_EDGE_TRUST, pem_bundle(certs[1:3]))
            await check(pems[1:3])
            await admin.upload_trust(node.store, PHONE_EDGE_TRUST, pem_bundle(certs[3:]))
            await check(pems[1:])
            with pytest.raises(admin.InvalidValue, match="at most 16"):
                await admin.upload_trust(node.store, PHONE_EDGE_TRUST, pem_bundle(certs[:1]))
            await check(pems[1:])
            # A 17th that got past the rule (two uploads racing, an older release):
            # phones still get 16, the first 16 by fingerprint.
            await trust(node.store, PHONE_EDGE_TRUST, certs[0])
            await check(pems[:16])
        finally:
            for cert in await node.store.trusted_certs.list(PHONE_EDGE_TRUST):
                await admin.delete_certificate(node.store, PHONE_EDGE_TRUST, cert.fingerprint)
            await until(bundle, lambda b: b["certificates"] == [], "bundle emptied")


async def test_default_file_names_the_secure_port_and_the_issuer_and_no_device(
    prepared: Prepared, node: Node
) -> None:
    """Point 1: XMLDefault.cnf.xml (for devices the cluster does not know) says where
    the secure configuration port and the authorization server are; schema-valid;
    it mentions no device. The same file on 6971, without a token."""
    async with plain(node) as bootstrap, secure(prepared, node) as tls:
        got = await fetch(bootstrap, "/XMLDefault.cnf.xml")
        assert got.status == 200
        assert got.headers["content-type"] == "application/xml"
        root = validate(got.body)
        assert root.tag == "Default"
        servers = await node.store.nodes.list()
        assert config_servers(root) == [(n.host, n.tftp_secure_port) for n in servers]
        assert text(root, "oauth/issuer") == prepared.tokens.issuer
        assert text(root, "oauth/tokenEndpoint").startswith(prepared.tokens.issuer)
        assert text(root, "oauth/authorizationEndpoint").startswith(prepared.tokens.issuer)
        assert text(root, "sipOAuthMode") == "1"
        assert members(root) == await _nodes(node)
        for name in (PHONE, PHONE2):
            assert name.encode() not in got.body
        assert not {"1001", "2001"} & {el.text for el in root.iter()}  # their lines
        assert root.find("sipProfile") is None and root.find("userId") is None
        again = await fetch(tls, "/xmldefault.cnf.xml")  # any case, as phones ask
        assert (again.status, again.body) == (200, got.body)


async def test_bootstrap_port_never_serves_a_device_file(prepared: Prepared, node: Node) -> None:
    """Point 1: on 6970 a device file name gets the same 404 whatever the name — an
    OAuth phone, a phone without OAuth, a name no device has — even with the
    device's valid token: a device's file is never sent in the clear."""
    plain_profile = await _new_phone(node)
    await admin.update_device(node.store, plain_profile, profile=admin.DEFAULT_PROFILE)
    async with plain(node) as bootstrap:
        answers = set()
        for name in (PHONE, PHONE2, plain_profile, UNKNOWN, "CSFNOBODY"):
            for sgn in (False, True):
                for headers in ({}, bearer(prepared.mint(name))):
                    got = await fetch(bootstrap, device_path(name, sgn=sgn), headers)
                    assert got.status == 404, (name, got.status)
                    assert got.headers["cache-control"] == "no-store"
                    answers.add(got.raw)
        assert len(answers) == 1
        assert json.loads(answers.pop())["error"] == "not_found"
        for path in ("/", "/SEP001122334455.cnf", "/etc/passwd", "/caconfig.json/x"):
            assert (await fetch(bootstrap, path)).status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
async def test_other_methods_are_405_with_allow(
    prepared: Prepared, node: Node, method: str
) -> None:
    """RFC 9110 §15.5.6: files are read with GET/HEAD; 405 names them in Allow."""
    async with plain(node) as bootstrap, secure(prepared, node) as tls:
        for client, path in (
            (bootstrap, "/caconfig.json"),
            (tls, "/XMLDefault.cnf.xml"),
            (tls, device_path(PHONE)),
        ):
            got = await fetch(client, path, bearer(prepared.mint()), method=method)
            assert got.status == 405, (path, got.status)
            assert got.headers["allow"] == "GET, HEAD"


# -- 6971: who may read a device's file (issue 5 point 2) ------------------------------


async def test_no_token_is_401_bearer_challenge_alike_for_existing_and_unknown(
    prepared: Prepared, node: Node
) -> None:
    """Point 2, RFC 6750 §3: without a token 401 with a Bearer challenge — asked
    before anything about the device, so existing and unknown names get the same
    answer (401 before 404)."""
    async with secure(prepared, node) as tls:
        answers = set()
        for name in (PHONE, PHONE2, UNKNOWN, "CSFNOBODY"):
            for sgn in (False, True):
                for headers in ({}, {"authorization": "Basic YWRtaW46dGVzdC1wYXNzd29yZA=="}):
                    got = await fetch(tls, device_path(name, sgn=sgn), headers)
                    assert got.status == 401
                    challenge = got.headers["www-authenticate"]
                    assert CHALLENGE.match(challenge), challenge
                    assert 'scope="config:read"' in challenge
                    answers.add((challenge, got.raw))
        assert len(answers) == 1


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer tok@en", "Bearer a,b", "bearer\tabc"],
)
async def test_malformed_bearer_credentials_are_400(
    prepared: Prepared, node: Node, header: str
) -> None:
    """RFC 6750 §3.1: malformed credentials are invalid_request (400)."""
    async with secure(prepared, node) as tls:
        got = await fetch(tls, device_path(PHONE), {"authorization": header})
    assert got.status == 400
    assert _json(got)["error"] == "invalid_request"
    assert 'error="invalid_request"' in got.headers["www-authenticate"]


async def test_token_in_the_query_string_is_400(prepared: Prepared, node: Node) -> None:
    """RFC 6750 §2.3 is not offered (tokens in URIs end up in logs): 400, with or
    without a token in the header too."""
    token = prepared.mint()
    async with secure(prepared, node) as tls:
        for headers in ({}, bearer(token)):
            got = await fetch(tls, device_path(PHONE), headers, params={"access_token": token})
            assert got.status == 400
            assert _json(got)["error"] == "invalid_request"
            assert 'error="invalid_request"' in got.headers["www-authenticate"]


@pytest.mark.parametrize("encoded", ["access%5Ftoken", "%61ccess_token"])
async def test_token_in_the_query_string_is_400_however_its_name_is_encoded(
    prepared: Prepared, node: Node, encoded: str
) -> None:
    """RFC 6750 §2.3 (application/x-www-form-urlencoded: ``%5F`` is ``_``): the
    parameter is ``access_token`` however it is spelt; 400 as above."""
    token = prepared.mint()
    async with secure(prepared, node) as tls:
        statuses = [
            (await fetch(tls, f"{device_path(PHONE)}?{encoded}={token}", headers)).status
            for headers in ({}, bearer(token))
        ]
    assert statuses == [400, 400]


def _bad_token(prepared: Prepared, case: str) -> str:
    if case == "another cluster's keys":
        other = KeyRing([SigningKey.generate()], [EncryptionKey.generate()])
        return prepared.mint(keys=other)
    if case == "expired":
        return prepared.mint(now=time.time() - 7200, lifetime=600)
    if case == "wrong audience":
        return prepared.mint(audience="urn:sipoauth:cluster:someone-else")
    if case == "wrong issuer":
        return prepared.mint(issuer="https://elsewhere.example.net:8443")
    if case == "garbage":
        return "eyJhbGciOiJkaXIifQ..AAAA.BBBB.CCCC"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["another cluster's keys", "expired", "wrong audience", "wrong issuer", "garbage"]
)
async def test_bad_tokens_are_401_invalid_token_before_any_lookup(
    prepared: Prepared, node: Node, case: str
) -> None:
    """Point 2, RFC 6750 §3.1: a forged, expired or foreign token is 401 invalid_token —
    the same for the phone it names and for a name no device has."""
    token = _bad_token(prepared, case)
    async with secure(prepared, node) as tls:
        own = await fetch(tls, device_path(PHONE), bearer(token))
        unknown = await fetch(tls, device_path(UNKNOWN), bearer(token))
    assert own.status == 401, own.raw
    assert 'error="invalid_token"' in own.headers["www-authenticate"]
    assert CHALLENGE.match(own.headers["www-authenticate"])
    assert _json(own)["error"] == "invalid_token"
    assert (unknown.status, unknown.headers["www-authenticate"], unknown.raw) == (
        own.status,
        own.headers["www-authenticate"],
        own.raw,
    )


async def test_token_of_a_grant_revoked_by_its_client_is_401(
    prepared: Prepared, node: Node
) -> None:
    """Point 5: a desk phone's real token (activation code grant, client
    sipoauth-desk-phone) reads its file; once the grant is revoked (RFC 7009) the
    node hears it and the same token gets 401 invalid_token."""
    phone = await add_phone(node.store)
    async with web_port(prepared, node) as authz:
        issued = await activate(authz, await new_code(node.store, phone.name), phone)
        assert issued.status_code == 200, issued.text
        access = issued.json()["access_token"]
        await until_known(node, phone.name)
        async with secure(prepared, node) as tls:
            assert text(await device_file(tls, phone.name, access), "name") == phone.name
            revoked = await authz.post(
                "/oauth/revoke", data={"token": access, "client_id": DESK_CLIENT}
            )
            assert revoked.status_code == 200, revoked.text
            got = await until(
                lambda: fetch(tls, device_path(phone.name), bearer(access)),
                lambda g: g.status != 200,
                "revocation heard",
            )
    assert got.status == 401
    assert 'error="invalid_token"' in got.headers["www-authenticate"]
    assert "revoked" in got.headers["www-authenticate"]


async def test_grant_revoked_on_the_grants_channel_is_401(prepared: Prepared, node: Node) -> None:
    """Point 5 (DESIGN "Tokens"): a revocation announced on the ``grants`` channel
    (from any node) is enforced here from then on."""
    sid = f"sid-cfg-{secrets.token_hex(4)}"
    token = prepared.mint(PHONE2, sid=sid)
    async with secure(prepared, node) as tls:
        await device_file(tls, PHONE2, token)
        await node.store.notify("grants", sid)
        got = await until(
            lambda: fetch(tls, device_path(PHONE2), bearer(token)),
            lambda g: g.status != 200,
            "revocation heard",
        )
        assert got.status == 401
        assert 'error="invalid_token"' in got.headers["www-authenticate"]
        other = prepared.mint(PHONE2)  # another grant of the same phone still reads
        await device_file(tls, PHONE2, other)


async def test_token_without_config_read_is_403_insufficient_scope(
    prepared: Prepared, node: Node
) -> None:
    """Point 2, RFC 6750 §3.1: a valid token that does not allow config reads."""
    token = prepared.mint(PHONE, scope="sip:register")
    async with secure(prepared, node) as tls:
        got = await fetch(tls, device_path(PHONE), bearer(token))
    assert got.status == 403
    assert _json(got)["error"] == "insufficient_scope"
    challenge = got.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="config:read"' in challenge


async def test_one_phones_token_does_not_read_another_phones_file(
    prepared: Prepared, node: Node
) -> None:
    """Point 5: PHONE's token for PHONE2's file is 403 — and a name no device has gets
    the very same 403, so a token holder cannot probe names either (only a desk
    phone's own name, which its token says, is 404 when its record is gone)."""
    async with secure(prepared, node) as tls:
        for client_id in ("phone", DESK_CLIENT):
            token = prepared.mint(PHONE, client_id=client_id)
            other = await fetch(tls, device_path(PHONE2), bearer(token))
            unknown = await fetch(tls, device_path(UNKNOWN), bearer(token))
            assert other.status == 403 and _json(other)["error"] == "forbidden"
            assert (unknown.status, unknown.raw) == (other.status, other.raw)
            assert "www-authenticate" not in other.headers
        gone = await fetch(
            tls, device_path(UNKNOWN), bearer(prepared.mint(UNKNOWN, client_id=DESK_CLIENT))
        )
        assert gone.status == 404


async def test_refusals_log_the_jti_and_never_the_token(
    prepared: Prepared, node: Node, capfd: pytest.CaptureFixture[str]
) -> None:
    """STYLE.md rule 10: a refused or served request logs the token's ``jti`` at
    most, never the token (nor a piece of its ciphertext) — in the URI or not."""
    jti = f"jti-cfg-{secrets.token_hex(4)}"
    tokens = [
        prepared.mint(PHONE, jti=jti),
        prepared.mint(PHONE, now=time.time() - 7200, lifetime=600),
        prepared.mint(PHONE, scope="sip:register"),
    ]
    async with secure(prepared, node) as tls:
        assert (await fetch(tls, device_path(PHONE2), bearer(tokens[0]))).status == 403
        assert (await fetch(tls, device_path(PHONE), bearer(tokens[0]))).status == 200
        assert (await fetch(tls, device_path(PHONE), bearer(tokens[1]))).status == 401
        assert (await fetch(tls, device_path(PHONE), bearer(tokens[2]))).status == 403
        query = await fetch(tls, device_path(PHONE), params={"access_token": tokens[0]})
        assert query.status == 400
        malformed = await fetch(tls, device_path(PHONE), {"authorization": f"Bearer {tokens[0]} x"})
        assert malformed.status == 400
    written = "".join(capfd.readouterr())
    assert "configuration file refused" in written and jti in written
    for token in tokens:
        parts = token.split(".")
        for piece in (token, parts[3][:24], parts[3][-24:], parts[4]):
            assert piece not in written


# -- the file (issue 5 point 3) ----------------------------------------------------------


async def test_desk_phone_reads_its_own_file(prepared: Prepared, node: Node) -> None:
    """Points 2-3: a desk phone's token (client sipoauth-desk-phone) reads its file:
    name, model, lines in button order, security mode and transport, OAuth flag,
    the Default group (every server, publisher first, each with its four SIP
    ports), the mode, the configuration version and the trust bundle's hash."""
    name = f"SEP{secrets.token_hex(6).upper()}"
    dns = [unique_dn(), unique_dn()]
    await admin.add_device(
        node.store,
        name=name,
        model="8851",
        lines=dns,
        profile=admin.OAUTH_PROFILE,
        description="Lobby phone",
    )
    await until_known(node, name)
    token = prepared.mint(name, client_id=DESK_CLIENT)
    async with secure(prepared, node) as tls, plain(node) as bootstrap:
        got = await fetch(tls, device_path(name), bearer(token))
        caconfig = _json(await fetch(bootstrap, "/caconfig.json"))
    assert got.status == 200
    assert got.headers["content-type"] == "application/xml"
    assert got.headers["cache-control"] == "private, no-cache"
    assert "Authorization" in got.headers["vary"]
    root = validate(got.body)
    profile = await node.store.profiles.get(admin.OAUTH_PROFILE)
    assert profile is not None
    expected = {
        "name": name,
        "model": "8851",
        "deviceType": "desk",
        "description": "Lobby phone",
        "configVersion": "1",
        "accessMode": "on-premises",
        "sipOAuthMode": "1",
        "security/profile": admin.OAUTH_PROFILE,
        "security/deviceSecurityMode": profile.security_mode,
        "security/transportLayerProtocol": profile.transport,
        "oauth/enabled": "true",
        "oauth/issuer": prepared.tokens.issuer,
        "devicePool/callManagerGroup/name": "Default",
        "phoneEdgeTrust/sha256": caconfig["sha256"],
    }
    assert {path: root.findtext(path) for path in expected} == expected
    assert (profile.security_mode, profile.transport) == ("encrypted", "TLS")
    assert lines(root) == [(1, dns[0]), (2, dns[1])]
    assert members(root) == await _nodes(node)
    assert config_servers(root) == [
        (n.host, n.tftp_secure_port) for n in await node.store.nodes.list()
    ]
    assert root.find("userId") is None and root.find("mra") is None


async def test_file_of_a_phone_without_oauth_says_so(prepared: Prepared, node: Node) -> None:
    """Point 3: the OAuth flag and security mode come from the device's profile."""
    name = await _new_phone(node)
    await admin.update_device(node.store, name, profile=admin.DEFAULT_PROFILE)
    profile = await node.store.profiles.get(admin.DEFAULT_PROFILE)
    assert profile is not None and not profile.oauth
    token = prepared.mint(name)
    async with secure(prepared, node) as tls:
        root = await until(
            lambda: device_file(tls, name, token),
            lambda r: r.findtext("security/profile") == admin.DEFAULT_PROFILE,
            "profile change heard",
        )
    assert root.findtext("oauth/enabled") == "false"
    assert root.findtext("security/deviceSecurityMode") == profile.security_mode
    assert root.findtext("security/transportLayerProtocol") == profile.transport


async def test_soft_client_file_is_read_with_its_owners_sign_in_token_only(
    prepared: Prepared, node: Node
) -> None:
    """Point 2: a soft client's file is for its owner's token from a sign-in client —
    not another user's, not the owner's with the desk-phone client, not one naming
    the soft client itself; and the owner's token does not read a desk phone the
    owner has (a desk phone's token names the phone)."""
    user, other = await add_user(node.store), await add_user(node.store)
    desk = await _new_phone(node, owner=user.user_id)
    await until_known(node, user.soft_client, other.soft_client)
    async with secure(prepared, node) as tls:
        root = await device_file(
            tls, user.soft_client, prepared.mint(user.user_id, client_id=CSF_CLIENT)
        )
        assert (text(root, "name"), text(root, "deviceType"), text(root, "userId")) == (
            user.soft_client,
            "soft",
            user.user_id,
        )
        assert text(root, "model") == "CSF"
        assert lines(root) == [(1, user.line)]
        for refused in (
            prepared.mint(other.user_id, client_id=CSF_CLIENT),
            prepared.mint(user.user_id, client_id=DESK_CLIENT),
            prepared.mint(user.soft_client, client_id=DESK_CLIENT),
            prepared.mint(user.soft_client, client_id=CSF_CLIENT),
        ):
            got = await fetch(tls, device_path(user.soft_client), bearer(refused))
            assert got.status == 403, got.raw
        # The owner's sign-in token does not read the owner's desk phone either.
        owners = bearer(prepared.mint(user.user_id, client_id=CSF_CLIENT))
        assert (await fetch(tls, device_path(desk), owners)).status == 403


async def test_sgn_and_lower_case_names_give_the_same_document(
    prepared: Prepared, node: Node
) -> None:
    """Point 2: phones also ask for ``.cnf.xml.sgn``, and some with the name in lower
    case; the same document (desk phone names are upper-case)."""
    token = prepared.mint(PHONE2)
    async with secure(prepared, node) as tls:
        first = await fetch(tls, device_path(PHONE2), bearer(token))
        for path in (
            device_path(PHONE2, sgn=True),
            device_path(PHONE2.lower()),
            device_path(PHONE2.lower(), sgn=True),
        ):
            got = await fetch(tls, path, bearer(token))
            assert (got.status, got.raw, got.headers["etag"]) == (
                200,
                first.raw,
                first.headers["etag"],
            ), path
    assert text(validate(first.body), "name") == PHONE2


async def test_etag_if_none_match_gzip_and_head(prepared: Prepared, node: Node) -> None:
    """Point 2, RFC 9110 §8.8.3, §13.1.2, §12.5.3, §9.3.2: a strong ETag answered
    with 304 on If-None-Match; gzip when asked, with its own ETag, decompressing
    to the same document; HEAD says the same without a body."""
    auth = bearer(prepared.mint(PHONE))
    async with secure(prepared, node) as tls:
        path = device_path(PHONE)
        identity = await fetch(tls, path, auth)
        etag = identity.headers["etag"]
        assert identity.status == 200 and "content-encoding" not in identity.headers
        assert re.fullmatch(r'"[^"]+"', etag)
        validate(identity.body)

        same = await fetch(tls, path, {**auth, "if-none-match": etag})
        assert (same.status, same.raw, same.headers["etag"]) == (304, b"", etag)
        weak = await fetch(tls, path, {**auth, "if-none-match": f'"x", W/{etag}'})
        assert weak.status == 304
        changed = await fetch(tls, path, {**auth, "if-none-match": '"not-this-one"'})
        assert (changed.status, changed.raw) == (200, identity.raw)

        zipped = await fetch(tls, path, {**auth, "accept-encoding": "gzip"})
        assert zipped.status == 200 and zipped.headers["content-encoding"] == "gzip"
        assert zipped.raw != identity.raw and zipped.body == identity.raw
        assert int(zipped.headers["content-length"]) == len(zipped.raw)
        gz_etag = zipped.headers["etag"]
        assert gz_etag != etag
        again = await fetch(
            tls, path, {**auth, "accept-encoding": "gzip", "if-none-match": gz_etag}
        )
        assert again.status == 304
        plain_again = await fetch(tls, path, {**auth, "if-none-match": gz_etag})
        assert (plain_again.status, plain_again.raw) == (200, identity.raw)
        refused = await fetch(tls, path, {**auth, "accept-encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers and refused.raw == identity.raw

        head = await fetch(tls, path, auth, method="HEAD")
        assert (head.status, head.raw, head.headers["etag"]) == (200, b"", etag)
        assert int(head.headers["content-length"]) == len(identity.raw)
        no_token = await fetch(tls, path, method="HEAD")
        assert no_token.status == 401

    async with plain(node) as bootstrap:  # the public files the same way
        default = await fetch(bootstrap, "/XMLDefault.cnf.xml")
        cached = await fetch(
            bootstrap, "/XMLDefault.cnf.xml", {"if-none-match": default.headers["etag"]}
        )
        assert (cached.status, cached.raw) == (304, b"")


async def test_explicit_gzip_wins_over_a_refusing_wildcard(prepared: Prepared, node: Node) -> None:
    """RFC 9110 §12.5.3: ``*;q=0, gzip`` accepts gzip (and excludes identity)."""
    async with secure(prepared, node) as tls:
        got = await fetch(
            tls, device_path(PHONE), {**bearer(prepared.mint()), "accept-encoding": "*;q=0, gzip"}
        )
    assert got.status == 200
    assert got.headers.get("content-encoding") == "gzip"


async def test_reset_bumps_the_configuration_version_and_the_etag(
    prepared: Prepared, node: Node
) -> None:
    """Point 3: Reset / Apply Config bump configVersion; the next fetch has it (the
    node forgets the rendered file when it hears the reset) under a new ETag."""
    name = await _new_phone(node)
    auth = bearer(prepared.mint(name))
    async with secure(prepared, node) as tls:
        before = await fetch(tls, device_path(name), auth)
        version = int(text(validate(before.body), "configVersion"))
        for action in ("reset", "apply-config"):
            new = await admin.reset_device(node.store, name, action=action)  # type: ignore[arg-type]
            assert new == version + 1
            after = await until(
                lambda: fetch(tls, device_path(name), auth),
                lambda g, new=new: int(text(validate(g.body), "configVersion")) == new,
                "reset heard",
            )
            assert after.headers["etag"] != before.headers["etag"]
            stale = await fetch(
                tls, device_path(name), {**auth, "if-none-match": before.headers["etag"]}
            )
            assert stale.status == 200
            before, version = after, new


async def test_a_reset_during_a_configuration_reload_is_not_lost(
    prepared: Prepared, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point 3: Apply Config right after a configuration change — the node is
    reloading the configuration when it hears the reset. The file must keep the
    new configVersion once the reload is done, never go back to the old one.

    Deterministic: the reload's read of the device records is held until the node
    has heard the reset (its file shows the new version), then goes on. Reloads
    run one after another; one started before the edit (adding the phone sends
    more than one notification) may still be running and show the new
    certificate first, so the test waits for the end of the reload that held
    the read, not for the certificate."""
    name = await _new_phone(node)
    auth = bearer(prepared.mint(name))
    repository = type(node.store.devices)
    real_list = repository.list
    real_load = node.load
    armed = True
    held_reload_done = False

    async def load() -> None:
        nonlocal held_reload_done
        await real_load()
        if not armed:  # reloads are sequential: this is the one that held the read
            held_reload_done = True

    async with secure(prepared, node) as tls:

        async def version() -> int:
            got = await fetch(tls, device_path(name), auth)
            return int(text(validate(got.body), "configVersion"))

        before = await version()

        async def list_then_reset(self: object, **kw: object) -> object:
            nonlocal armed
            records = await real_list(self, **kw)  # type: ignore[arg-type]
            if armed:  # the reload triggered by the edit below
                armed = False
                await admin.reset_device(node.store, name, action="apply-config")
                await until(version, lambda v: v == before + 1, "reset heard mid-reload")
            return records

        monkeypatch.setattr(repository, "list", list_then_reset)
        monkeypatch.setattr(node, "load", load)
        # The edit: a certificate for phone-edge-trust (XMLDefault.cnf.xml shows when
        # the reload is done: it is installed with the device records).
        [cert] = trust_certificates(1, secrets.token_hex(3))
        await admin.upload_trust(node.store, PHONE_EDGE_TRUST, pem_bundle([cert]))
        try:

            async def default() -> str:
                got = await fetch(tls, "/XMLDefault.cnf.xml")
                return text(validate(got.body), "phoneEdgeTrust/certificates")

            async def reloaded() -> bool:
                return held_reload_done

            await until(reloaded, bool, "the reload that heard the reset done")
            assert await default() == "1"
            assert await version() == before + 1
        finally:
            monkeypatch.undo()
            for row in await node.store.trusted_certs.list(PHONE_EDGE_TRUST):
                await admin.delete_certificate(node.store, PHONE_EDGE_TRUST, row.fingerprint)
            await until(default, lambda n: n == "0", "bundle emptied")


async def test_mode_in_the_file_changes_when_callmanager_restarts(
    prepared: Prepared, node: Node
) -> None:
    """Point 3, R8: sipOAuthMode is the mode in effect — 1; still 1 after the mode is
    disabled (restart pending); 0 once Cisco CallManager restarts."""
    token = prepared.mint(PHONE)
    async with secure(prepared, node) as tls:
        assert text(await device_file(tls, PHONE, token), "sipOAuthMode") == "1"
        heard = node.directory
        try:
            await admin.set_sip_oauth_mode(node.store, node_name=NODE, enabled=False)
            await reloaded(node, heard)
            assert text(await device_file(tls, PHONE, token), "sipOAuthMode") == "1"
            await node.restart_service("callmanager")
            root = await device_file(tls, PHONE, token)
            assert text(root, "sipOAuthMode") == "0"
            default = validate((await fetch(tls, "/XMLDefault.cnf.xml")).body)
            assert text(default, "sipOAuthMode") == "0"
        finally:
            await admin.set_sip_oauth_mode(node.store, node_name=NODE, enabled=True)
        await node.restart_service("callmanager")
        assert text(await device_file(tls, PHONE, token), "sipOAuthMode") == "1"


async def test_callmanager_group_lists_its_nodes_in_the_chosen_order(
    prepared: Prepared, node: Node
) -> None:
    """Point 3: the device's CallManager group, in order, each with its own ports;
    reordering the group reorders the file. Default (XMLDefault.cnf.xml): every
    server, the publisher first."""
    store = node.store
    other = f"cfg{secrets.token_hex(3)}"
    group = f"Failover {other}"
    await admin.add_server(
        store,
        other,
        f"{other}.example.com",
        sip_port=15060,
        secure_sip_port=15061,
        oauth_port=15090,
        mra_port=15091,
        tftp_secure_port=16971,
    )
    name = None
    try:
        await admin.add_group(store, name=group, nodes=[other, NODE])
        name = await _new_phone(node, callmanager_group=group)
        token = prepared.mint(name)
        publisher = (await _nodes(node))[0]
        second = (other, f"{other}.example.com", (15060, 15061, 15090, 15091))
        async with secure(prepared, node) as tls:
            root = await device_file(tls, name, token)
            assert text(root, "devicePool/callManagerGroup/name") == group
            assert members(root) == [second, publisher]
            home = await node.store.nodes.get(NODE)
            assert home is not None
            assert config_servers(root) == [
                (f"{other}.example.com", 16971),
                (home.host, home.tftp_secure_port),
            ]
            default = validate((await fetch(tls, "/XMLDefault.cnf.xml")).body)
            assert members(default) == [publisher, second]

            await admin.update_group(store, group, nodes=[NODE, other])
            root = await until(
                lambda: device_file(tls, name, token),
                lambda r: members(r)[0] == publisher,
                "group change heard",
            )
            assert members(root) == [publisher, second]
    finally:
        if name is not None:
            await admin.delete_device(store, name)
        with contextlib.suppress(admin.NotFound):
            await admin.delete_group(store, group)
        await admin.delete_server(store, other, node_name=NODE)


# -- through the edge (issue 5 point 4) --------------------------------------------------


async def test_edge_gets_the_mra_variant(prepared: Prepared, node: Node) -> None:
    """Point 4, R12: through the authenticated edge (mutual TLS, its certificate names
    the edge entry) a phone set up for MRA gets the MRA variant — the edge's public
    host and ports instead of the nodes, the OAuth endpoints at the edge; directly,
    the on-premises file, which names the edge and the MRA service domain."""
    store = node.store
    domain = f"mra-{secrets.token_hex(3)}"
    await admin.add_mra_domain(store, domain, ["example.com", "mra.example.com"])
    name = await _new_phone(node, allow_activation_via_mra=True, mra_service_domain=domain)
    token = prepared.mint(name, client_id=DESK_CLIENT)
    public = "mra.example.net"
    await admin.update_edge(
        store, EDGE_ADDRESS, public_host=public, public_sip_port=15061, public_web_port=18443
    )
    user = await add_user(store)
    await until_known(node, user.soft_client)
    try:
        async with (
            secure(prepared, node, prepared.edge_cert) as edge,
            secure(prepared, node) as direct,
        ):
            mra = await until(
                lambda: device_file(edge, name, token),
                lambda r: r.findtext("mra/edges/edge/host") == public,
                "edge change heard",
            )
            onprem = await device_file(direct, name, token)
            # The access rule holds through the edge too; a soft client may always
            # come through it.
            other = await fetch(edge, device_path(name), bearer(prepared.mint(PHONE2)))
            assert other.status == 403
            soft = await device_file(
                edge, user.soft_client, prepared.mint(user.user_id, client_id=CSF_CLIENT)
            )
            assert text(soft, "accessMode") == "mra"
            assert members(soft) == [(public, public, (0, 15061, 15061, 15061))]
    finally:
        await admin.update_edge(
            store, EDGE_ADDRESS, public_host="", public_sip_port=5061, public_web_port=8443
        )
    assert text(mra, "accessMode") == "mra"
    assert text(mra, "devicePool/callManagerGroup/name") == "MRA"
    assert members(mra) == [(public, public, (0, 15061, 15061, 15061))]
    assert mra.find("configServers") is None
    assert text(mra, "oauth/issuer") == prepared.tokens.issuer  # tokens name it
    assert text(mra, "oauth/tokenEndpoint") == f"https://{public}:18443/oauth/token"
    assert text(mra, "oauth/authorizationEndpoint") == f"https://{public}:18443/oauth/authorize"
    node_hosts = {host for _, host, _ in await _nodes(node)}
    assert not node_hosts & {host for _, host, _ in members(mra)}

    assert text(onprem, "accessMode") == "on-premises"
    assert members(onprem) == await _nodes(node)
    for root in (mra, onprem):
        assert text(root, "name") == name
        assert text(root, "mra/allowActivationCode") == "true"
        service = root.find("mra/serviceDomain")
        assert service is not None and service.get("name") == domain
        assert [d.text for d in service.findall("domain")] == ["example.com", "mra.example.com"]
        edge_el = root.find("mra/edges/edge")
        assert edge_el is not None
        assert (text(edge_el, "host"), text(edge_el, "sipPort"), text(edge_el, "webPort")) == (
            public,
            "15061",
            "18443",
        )


async def test_edge_is_refused_a_phone_not_set_up_for_mra(prepared: Prepared, node: Node) -> None:
    """Point 4, R12.1: a phone not set up for MRA has no MRA variant: 403 through the
    edge (with its valid token; without one, the 401 challenge comes first)."""
    async with secure(prepared, node, prepared.edge_cert) as edge:
        got = await fetch(edge, device_path(PHONE), bearer(prepared.mint(PHONE)))
        assert got.status == 403
        assert _json(got)["error"] == "forbidden"
        assert "Mobile and Remote Access" in str(_json(got)["detail"])
        assert (await fetch(edge, device_path(PHONE))).status == 401
        public = await fetch(edge, "/caconfig.json")  # the bootstrap files are for anyone
        assert public.status == 200


async def test_certificate_naming_no_edge_gets_the_on_premises_file(
    prepared: Prepared, node: Node
) -> None:
    """Point 4, R12: chaining to tomcat-trust is not enough; a certificate whose names
    match no edge entry is a direct client (the classifier's ``via_edge`` stays
    None): the on-premises file, byte for byte what a client without one gets."""
    token = prepared.mint(PHONE)
    async with (
        secure(prepared, node, prepared.stranger_cert) as stranger,
        secure(prepared, node) as direct,
    ):
        got = await fetch(stranger, device_path(PHONE), bearer(token))
        plain_got = await fetch(direct, device_path(PHONE), bearer(token))
    assert got.status == 200
    assert text(validate(got.body), "accessMode") == "on-premises"
    assert got.raw == plain_got.raw
    assert EDGE_NAME not in got.body.decode()


async def test_files_are_served_while_callmanager_and_tomcat_are_stopped(
    prepared: Prepared, node: Node
) -> None:
    """Cisco TFTP is a service of its own: with Cisco CallManager and Cisco Tomcat
    stopped it still checks tokens and serves files, and still hears resets."""
    name = await _new_phone(node)
    auth = bearer(prepared.mint(name))
    await node.stop_service("callmanager")
    await node.stop_service("tomcat")
    async with secure(prepared, node) as tls, plain(node) as bootstrap:
        assert (await fetch(bootstrap, "/XMLDefault.cnf.xml")).status == 200
        assert (await fetch(tls, device_path(name))).status == 401
        assert (await fetch(tls, device_path(PHONE), auth)).status == 403
        version = int(text(await device_file(tls, name, prepared.mint(name)), "configVersion"))
        await admin.reset_device(node.store, name, action="apply-config")
        await until(
            lambda: fetch(tls, device_path(name), auth),
            lambda g: int(text(validate(g.body), "configVersion")) == version + 1,
            "reset heard",
        )


async def test_untrusted_client_certificate_fails_and_the_service_keeps_serving(
    prepared: Prepared, node: Node
) -> None:
    """A client certificate of an unknown CA fails the handshake on 6971, as on the web
    port; the next clients are served."""
    async with secure(prepared, node, prepared.untrusted_cert) as untrusted:
        with pytest.raises(httpx.TransportError):
            await untrusted.get(device_path(PHONE), headers=bearer(prepared.mint()))
    async with secure(prepared, node, prepared.edge_cert) as edge:
        assert (await fetch(edge, "/caconfig.json")).status == 200
    async with secure(prepared, node) as direct:
        await device_file(direct, PHONE, prepared.mint())


async def test_garbage_on_the_connection_does_not_stop_the_service(
    prepared: Prepared, node: Node
) -> None:
    """Non-TLS bytes on 6971, non-HTTP bytes inside TLS, non-HTTP bytes on 6970, and a
    silent connection held open: the next client is served on both ports."""
    http_port, https_port = tftp_ports(node)
    junk = b"\x00\xff\x16\x03\x01\x00\x05garbage\r\n\r\n" * 64
    answers = []
    for port in (https_port, http_port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(junk)
        try:
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.read(), 10))
        except ConnectionError:  # reset instead of closed: the same for the test
            answers.append(b"")
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    context = client_ssl_context([prepared.ca_pem])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", https_port, ssl=context, server_hostname="localhost"
    )
    writer.write(b"\x01\x02 NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()
    answers.append(await asyncio.wait_for(reader.read(), 10))
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()
    tls_closed, http_refused, tls_refused = answers
    assert tls_closed == b""  # not a TLS handshake: the connection is dropped
    assert http_refused.startswith(b"HTTP/1.1 400 ")
    assert tls_refused.startswith(b"HTTP/1.1 400 ")
    _, silent = await asyncio.open_connection("127.0.0.1", https_port)
    try:
        async with secure(prepared, node) as tls, plain(node) as bootstrap:
            await device_file(tls, PHONE, prepared.mint())
            assert (await fetch(bootstrap, "/caconfig.json")).status == 200
    finally:
        silent.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await silent.wait_closed()


# -- property: a device's token reads that device's file only (issue 5 point 5) ----------


async def test_a_token_for_one_device_never_reads_another(prepared: Prepared, node: Node) -> None:
    """Point 5: for any desk phone names X and Y (existing or not, asked in either
    case and either file name), X's token reads Y's file only when X = Y exists;
    otherwise 403 — or 404 for a desk-phone token asking for its own missing name."""
    fresh = await _new_phone(node)
    names = (PHONE, PHONE2, fresh, UNKNOWN, "SEP00000000BEEF")
    existing = {PHONE, PHONE2, fresh}
    loop = asyncio.get_running_loop()
    client = secure(prepared, node)

    async def status(holder: str, client_id: str, target: str, sgn: bool) -> int:
        got = await fetch(
            client, device_path(target, sgn=sgn), bearer(prepared.mint(holder, client_id=client_id))
        )
        if got.status == 200:
            assert text(validate(got.body), "name") == target.upper()
        return got.status

    @settings(max_examples=25, deadline=None, database=None)
    @given(
        holder=st.sampled_from(names),
        client_id=st.sampled_from(["phone", DESK_CLIENT]),
        target=st.sampled_from(names),
        lower=st.booleans(),
        sgn=st.booleans(),
    )
    @example(holder=PHONE, client_id=DESK_CLIENT, target=PHONE2, lower=False, sgn=False)
    @example(holder=PHONE2, client_id="phone", target=PHONE, lower=True, sgn=True)
    @example(holder=UNKNOWN, client_id=DESK_CLIENT, target=PHONE, lower=False, sgn=False)
    @example(holder=PHONE, client_id=DESK_CLIENT, target=PHONE, lower=True, sgn=False)
    def check(holder: str, client_id: str, target: str, lower: bool, sgn: bool) -> None:
        asked = target.lower() if lower else target
        future = asyncio.run_coroutine_threadsafe(status(holder, client_id, asked, sgn), loop)
        got = future.result(timeout=60)
        if holder != target:
            assert got == 403, (holder, target, got)
        elif target in existing:
            assert got == 200, (holder, target, got)
        else:
            assert got == (404 if client_id == DESK_CLIENT else 403), (holder, client_id, got)

    async with client:
        await asyncio.to_thread(check)


async def test_an_edge_added_counts_from_the_next_request_on_an_open_connection(
    prepared: Prepared, node: Node
) -> None:
    """A client certificate is judged when its connection is made, and judged
    again at the next request once the edge entries change — an edge entry added
    (or removed) takes effect on a keep-alive connection at once, not whenever
    the client happens to reconnect, and the connection stays open."""
    token = prepared.mint(PHONE)
    async with secure(prepared, node, prepared.stranger_cert) as client:
        assert (await fetch(client, device_path(PHONE), bearer(token))).status == 200
        before = node.directory
        await admin.add_edge(node.store, address="192.0.2.77", x509_names=["intruder.example.net"])
        try:
            await reloaded(node, before)
            # Same client, same pool: now through an edge, and PHONE is not set up
            # for Mobile and Remote Access.
            got = await fetch(client, device_path(PHONE), bearer(token))
            assert got.status == 403, got.raw
        finally:
            before = node.directory
            await admin.delete_edge(node.store, "192.0.2.77")
            await reloaded(node, before)
        assert (await fetch(client, device_path(PHONE), bearer(token))).status == 200


async def test_default_file_is_not_served_through_the_edge(prepared: Prepared, node: Node) -> None:
    """XMLDefault.cnf.xml lists the cluster's servers and ports: inside only. Through
    an authenticated edge it is 404; caconfig.json is still there."""
    async with secure(prepared, node, prepared.edge_cert) as edge:
        refused = await fetch(edge, "/XMLDefault.cnf.xml")
        assert refused.status == 404
        assert b"localhost" not in refused.raw
        assert (await fetch(edge, "/caconfig.json")).status == 200
    async with secure(prepared, node) as inside:
        assert (await fetch(inside, "/XMLDefault.cnf.xml")).status == 200
