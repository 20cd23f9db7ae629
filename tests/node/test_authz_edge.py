"""The authorization server through the edge (Mobile and Remote Access, R12).

A request is *via MRA* only when it reaches the web port over mutual TLS with a
client certificate that chains to tomcat-trust and names a configured edge
entry (docs/oauth.md "Through the edge"); no header can make it so. Every test
talks HTTPS to a running node on loopback, as the edge (``prepared.edge_cert``)
or as a device directly, and registers the tokens it gets over SIP.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from sipoauth.node import Node
from sipoauth.store import Store

from ._authz_edge import (
    ACTIVATION_GRANT,
    DESK_CLIENT,
    EDGE_PATH,
    REDIRECT_URI,
    Phone,
    activate,
    add_phone,
    add_user,
    authorize_params,
    ca_hierarchy,
    claims_of,
    new_code,
    parameter,
    pkce_pair,
    register,
    sign_in,
    trust,
    until_known,
    web,
)
from ._support import EDGE_NAME, Prepared, start_node

MRA_ACTIVATION = "Enable Mobile and Remote Access Activation"
REFRESH_FLOW = "OAuth with Refresh Login Flow"
SPOOFING_HEADERS = {
    "X-Forwarded-For": "192.0.2.50",
    "Forwarded": "for=192.0.2.50;by=expc.example.com",
    "X-Forwarded-Host": "expc.example.com",
    "X-Client-Cert": "CN=expc.example.com",
    "X-SSL-Client-S-DN": "CN=expc.example.com",
    "Via": "1.1 expc.example.com",
}
"""Headers a proxy might set: on a direct connection none of them means anything."""


def wrong_code() -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(16))


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("error", ""), body.get("error_description", "")


# -- desk phones: activation codes via MRA (R12.2) -----------------------------------------


async def test_r12_activation_via_mra_allowed_and_token_registers_through_edge(
    prepared: Prepared, node: Node
) -> None:
    """R12.1/R12.2: a phone with "Allow Activation Code via MRA" onboards through the
    edge with its code; the token registers it through the MRA port (RFC 3327 Path)."""
    phone = await add_phone(node.store, allow_mra=True)
    code = await new_code(node.store, phone.name)
    async with web(prepared, node, prepared.edge_cert) as edge:
        response = await activate(edge, code, phone, headers={"X-Forwarded-For": "198.51.100.20"})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    claims = claims_of(node, token)
    assert (claims.subject, claims.client_id) == (phone.name, DESK_CLIENT)
    await until_known(node, phone.name)
    reply = await register(prepared, node, phone.ident(), token, edge=True)
    assert reply.status == 200
    assert reply.get_all("path") == [EDGE_PATH]


async def test_r12_activation_via_mra_refused_without_allow_flag_and_code_kept(
    prepared: Prepared, node: Node
) -> None:
    """R12.1: without "Allow Activation Code via MRA" the edge gets unauthorized_client
    (the code was right, so the answer may say why) and the code is not consumed:
    it still works directly."""
    phone = await add_phone(node.store, allow_mra=False)
    code = await new_code(node.store, phone.name)
    async with web(prepared, node, prepared.edge_cert) as edge:
        refused = await activate(edge, code, phone)
    status, error, description = _error(refused)
    assert (status, error) == (400, "unauthorized_client")
    assert "Mobile and Remote Access" in description
    assert "access_token" not in refused.json()
    async with web(prepared, node) as direct:
        accepted = await activate(direct, code, phone)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["access_token"]


async def test_r12_activation_via_mra_refused_when_service_parameter_off(
    prepared: Prepared, node: Node
) -> None:
    """R12.2 + service parameter "Enable Mobile and Remote Access Activation" off:
    even a phone that allows it gets unauthorized_client via MRA (directly it works)."""
    phone = await add_phone(node.store, allow_mra=True)
    code = await new_code(node.store, phone.name)
    async with parameter(node, MRA_ACTIVATION, "False"):
        async with web(prepared, node, prepared.edge_cert) as edge:
            refused = await activate(edge, code, phone)
        status, error, _ = _error(refused)
        assert (status, error) == (400, "unauthorized_client")
        async with web(prepared, node) as direct:
            accepted = await activate(direct, code, phone)
        assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("allow_mra", [True, False])
async def test_wrong_code_via_mra_gets_the_same_answer_as_directly(
    prepared: Prepared, node: Node, allow_mra: bool
) -> None:
    """docs/oauth.md "Activation codes": a wrong code is "Invalid activation code"
    whatever the path; via MRA it does not reveal whether the phone allows MRA."""
    phone = await add_phone(node.store, allow_mra=allow_mra)
    await new_code(node.store, phone.name)
    guess = wrong_code()
    async with web(prepared, node, prepared.edge_cert) as edge:
        via_edge = await activate(edge, guess, phone, headers={"X-Forwarded-For": "198.51.100.1"})
    async with web(prepared, node) as direct:
        directly = await activate(direct, guess, phone)
    assert _error(via_edge) == _error(directly) == (400, "invalid_grant", "Invalid activation code")
    assert via_edge.json() == directly.json()


async def test_r12_refresh_of_an_mra_activation_allowed_via_mra(
    prepared: Prepared, node: Node
) -> None:
    """R12.2 (docs/oauth.md): via MRA a desk phone may refresh what its activation
    code got (refresh tokens only while "OAuth with Refresh Login Flow" is Enabled)."""
    phone = await add_phone(node.store, allow_mra=True)
    code = await new_code(node.store, phone.name)
    async with (
        parameter(node, REFRESH_FLOW, "Enabled"),
        web(prepared, node, prepared.edge_cert) as edge,
    ):
        first = await activate(edge, code, phone)
        assert first.status_code == 200, first.text
        refreshed = await edge.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "client_id": DESK_CLIENT,
                "refresh_token": first.json()["refresh_token"],
            },
        )
    assert refreshed.status_code == 200, refreshed.text
    token = refreshed.json()["access_token"]
    await until_known(node, phone.name)
    assert (await register(prepared, node, phone.ident(), token, edge=True)).status == 200


# -- desk phones: no sign-in and no other grant via MRA (R12.2) ----------------------------


async def test_r12_authorize_page_for_desk_phone_via_mra_is_unauthorized_client(
    prepared: Prepared, node: Node
) -> None:
    """R12.2: through the edge a desk phone cannot sign in with user name and
    password: the authorize page answers 400 unauthorized_client saying why — also
    when a real user's credentials are posted."""
    user = await add_user(node.store)
    _, challenge = pkce_pair()
    params = authorize_params(DESK_CLIENT, challenge)
    async with web(prepared, node, prepared.edge_cert) as edge:
        page = await edge.get("/oauth/authorize", params=params)
        posted = await edge.post(
            "/oauth/authorize",
            data={**params, "user_id": user.user_id, "password": user.password},
        )
    for response in (page, posted):
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "unauthorized_client" in response.text
        assert "Mobile and Remote Access" in response.text
        assert "activation code" in response.text
        assert 'name="password"' not in response.text  # no sign-in form


async def test_authorize_page_for_desk_phone_directly_does_not_mention_mra(
    prepared: Prepared, node: Node
) -> None:
    """docs/oauth.md "Clients": desk phones never sign in; directly the refusal is
    the plain one, not the via-MRA one (whatever proxy headers say)."""
    _, challenge = pkce_pair()
    params = authorize_params(DESK_CLIENT, challenge)
    async with web(prepared, node) as direct:
        page = await direct.get("/oauth/authorize", params=params, headers=SPOOFING_HEADERS)
    assert page.status_code == 400
    assert "unauthorized_client" in page.text
    assert "Mobile and Remote Access" not in page.text


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code", "password"])
async def test_r12_other_desk_phone_grants_via_mra_are_unauthorized_client(
    prepared: Prepared, node: Node, grant_type: str
) -> None:
    """R12.2: via MRA the desk-phone client may only use the activation code (and
    refresh): any other grant answers unauthorized_client naming MRA."""
    phone = await add_phone(node.store, allow_mra=True)
    verifier, _ = pkce_pair()
    form = {
        "grant_type": grant_type,
        "client_id": DESK_CLIENT,
        "code": secrets.token_urlsafe(32),
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "username": phone.name,
        "password": "whatever-it-is",
    }
    async with web(prepared, node, prepared.edge_cert) as edge:
        response = await edge.post("/oauth/token", data=form)
    status, error, description = _error(response)
    assert (status, error) == (400, "unauthorized_client")
    assert "Mobile and Remote Access" in description
    assert "access_token" not in response.json()


# -- soft clients may sign in via MRA --------------------------------------------------------


async def test_r12_soft_client_signs_in_via_mra_and_registers_through_edge(
    prepared: Prepared, node: Node
) -> None:
    """docs/oauth.md "Through the edge": soft clients may sign in via MRA (R12.2
    restricts desk phones only); the token registers the user's soft client through
    the edge."""
    user = await add_user(node.store)
    async with web(prepared, node, prepared.edge_cert) as edge:
        done = await sign_in(edge, user.user_id, user.password)
    assert done.token.status_code == 200, done.token.text
    token = done.token.json()["access_token"]
    claims = claims_of(node, token)
    assert (claims.subject, claims.client_id) == (user.user_id, "sipoauth-csf")
    await until_known(node, user.soft_client)
    reply = await register(prepared, node, user.ident(), token, edge=True)
    assert reply.status == 200


# -- only the edge's certificate makes a request via MRA -----------------------------------


async def test_headers_on_a_direct_connection_never_make_a_request_via_mra(
    prepared: Prepared, node: Node
) -> None:
    """docs/oauth.md "Through the edge": no header can make a request via MRA. A phone
    without "Allow Activation Code via MRA" activates directly even when the request
    carries every proxy header an edge could add."""
    phone = await add_phone(node.store, allow_mra=False)
    code = await new_code(node.store, phone.name)
    async with web(prepared, node) as direct:
        response = await activate(direct, code, phone, headers=SPOOFING_HEADERS)
        assert response.status_code == 200, response.text
        # Not refused with the via-MRA rule either: client_credentials without a
        # manufacturer certificate is a client-authentication failure.
        mic = await direct.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": DESK_CLIENT},
            headers=SPOOFING_HEADERS,
        )
    _, error, description = _error(mic)
    assert error == "invalid_client"  # (its HTTP status is test_authz_mic's business)
    assert "Mobile and Remote Access" not in description


async def test_trusted_certificate_naming_no_edge_is_a_direct_request(
    prepared: Prepared, node: Node
) -> None:
    """R12 / REFERENCE-BEHAVIOUR "Edge": chaining to tomcat-trust is not enough, the
    certificate must name an edge entry. The stranger's requests are direct: its
    phone without the MRA flag activates, and its X-Forwarded-For is ignored."""
    phone = await add_phone(node.store, allow_mra=False)
    code = await new_code(node.store, phone.name)
    async with web(prepared, node, prepared.stranger_cert) as stranger:
        response = await activate(stranger, code, phone, headers={"X-Forwarded-For": "10.9.9.9"})
    assert response.status_code == 200, response.text


async def test_untrusted_ca_fails_the_handshake_and_the_node_keeps_serving(
    prepared: Prepared, node: Node
) -> None:
    """REFERENCE-BEHAVIOUR "Edge" (web port, node/_web.py): a client certificate of an
    unknown CA fails the TLS handshake ("unknown CA"); other clients are served."""
    async with web(prepared, node, prepared.untrusted_cert) as untrusted:
        with pytest.raises(httpx.TransportError):
            await untrusted.get("/.well-known/oauth-authorization-server")
    async with web(prepared, node) as direct:
        assert (await direct.get("/.well-known/oauth-authorization-server")).status_code == 200
    async with web(prepared, node, prepared.edge_cert) as edge:
        assert (await edge.get("/oauth/jwks")).status_code == 200


# -- throttling (RFC 8628 §5.1 reasoning; docs/oauth.md "Guessing") --------------------------


async def _fail(client: httpx.AsyncClient, phone: Phone, times: int, xff: str) -> list[int]:
    statuses = []
    for _ in range(times):
        response = await activate(client, wrong_code(), phone, headers={"X-Forwarded-For": xff})
        statuses.append(response.status_code)
    return statuses


async def test_throttling_through_the_edge_keys_on_the_forwarded_address(
    prepared: Prepared, node: Node
) -> None:
    """docs/oauth.md "Guessing": through an authenticated edge the source is the
    address the edge appended to X-Forwarded-For (the last entry), so two devices
    behind one edge are throttled separately; an earlier, client-supplied entry
    cannot move a device to another bucket."""
    phone = await add_phone(node.store, allow_mra=True)
    limit = node.authz.throttle_settings.activation_per_source if node.authz else 5
    async with web(prepared, node, prepared.edge_cert) as edge:
        assert await _fail(edge, phone, limit, "198.51.100.7") == [400] * limit
        slowed = await activate(
            edge, wrong_code(), phone, headers={"X-Forwarded-For": "198.51.100.7"}
        )
        assert slowed.status_code == 429
        assert slowed.json()["error"] == "slow_down"
        assert int(slowed.headers["retry-after"]) > 0
        spoofed = await activate(
            edge, wrong_code(), phone, headers={"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
        )
        assert spoofed.status_code == 429
        other = await activate(
            edge, wrong_code(), phone, headers={"X-Forwarded-For": "198.51.100.8"}
        )
        assert _error(other) == (400, "invalid_grant", "Invalid activation code")


@pytest.mark.parametrize("cert", ["none", "stranger"])
async def test_throttling_of_direct_requests_ignores_x_forwarded_for(
    prepared: Prepared, node: Node, cert: str
) -> None:
    """docs/oauth.md "Guessing" + web/_oauth.py ``peer_of``: X-Forwarded-For is
    trusted only from an authenticated edge; a direct guesser cannot escape the
    per-source limit by varying it."""
    phone = await add_phone(node.store, allow_mra=False)
    limit = node.authz.throttle_settings.activation_per_source if node.authz else 5
    client_cert = prepared.stranger_cert if cert == "stranger" else None
    async with web(prepared, node, client_cert) as direct:
        statuses = [
            (
                await activate(
                    direct, wrong_code(), phone, headers={"X-Forwarded-For": f"10.0.0.{i}"}
                )
            ).status_code
            for i in range(limit)
        ]
        assert statuses == [400] * limit
        slowed = await activate(
            direct, wrong_code(), phone, headers={"X-Forwarded-For": "10.1.1.1"}
        )
    assert slowed.status_code == 429
    assert slowed.json()["error"] == "slow_down"


def test_activation_grant_name_is_the_documented_one() -> None:
    assert ACTIVATION_GRANT == "urn:sipoauth:params:oauth:grant-type:activation-code"


async def test_r12_edge_certificate_from_an_intermediate_ca_is_via_mra(
    prepared: Prepared, tmp_path: Path
) -> None:
    """R12 / REFERENCE-BEHAVIOUR "Edge": an edge whose certificate an enterprise CA
    issued through an intermediate (only the root in tomcat-trust; the edge sends
    leaf + intermediate, as TLS does) is an authenticated edge on the web port as on
    the SIP MRA port: its requests are via MRA, so R12.2 holds for them."""
    root, edge_cert = ca_hierarchy(tmp_path, EDGE_NAME, (EDGE_NAME,))
    setup = await Store.open(prepared.url)
    try:
        await trust(setup, "tomcat-trust", root)
    finally:
        await setup.close()
    node = await start_node(prepared)  # the web port's TLS trust is read at start
    try:
        phone = await add_phone(node.store, allow_mra=False)
        code = await new_code(node.store, phone.name)
        _, challenge = pkce_pair()
        async with web(prepared, node, edge_cert) as edge:
            refused = await activate(edge, code, phone)
            page = await edge.get(
                "/oauth/authorize", params=authorize_params(DESK_CLIENT, challenge)
            )
        assert _error(refused)[:2] == (400, "unauthorized_client"), refused.text
        assert page.status_code == 400
        assert "Mobile and Remote Access" in page.text
        token = prepared.mint(phone.name)
        await until_known(node, phone.name)
        relayed = await register(
            prepared, node, phone.ident(), token, edge=True, edge_cert=edge_cert
        )
        assert relayed.status == 200  # the SIP MRA port accepts the same edge
    finally:
        await node.close()


async def test_throttling_through_the_edge_reads_every_x_forwarded_for_line(
    prepared: Prepared, node: Node
) -> None:
    """docs/oauth.md "Guessing" + RFC 9110 §5.3: a header sent on several lines is
    one list, in order. A device that sends its own X-Forwarded-For line, before
    the one the edge adds, still lands in the bucket of the address the edge
    appended (the last entry of the last line)."""
    phone = await add_phone(node.store, allow_mra=True)
    limit = node.authz.throttle_settings.activation_per_source if node.authz else 5
    form = {
        "grant_type": ACTIVATION_GRANT,
        "client_id": DESK_CLIENT,
        "mac": phone.mac,
        "model": phone.model,
    }
    async with web(prepared, node, prepared.edge_cert) as edge:
        statuses = []
        for i in range(limit + 1):
            response = await edge.post(
                "/oauth/token",
                data={**form, "activation_code": wrong_code()},
                headers=[
                    ("X-Forwarded-For", f"10.66.0.{i}"),  # the device's own line
                    ("X-Forwarded-For", "198.51.100.9"),  # the edge's line
                ],
            )
            statuses.append(response.status_code)
    assert statuses == [400] * limit + [429]
