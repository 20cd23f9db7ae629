"""No secret in a log line or an error answer (issue 3 point 9; STYLE.md rule 10).

docs/oauth.md "Errors and logs": logs name grants by ``sid`` and tokens by
``jti``; no token, code, password or key is ever written. One test runs every
flow of the authorization server against a node on loopback — sign-in with a
wrong then the right password, code exchange (and a replayed code), refresh
(and a replayed refresh token), activation with a wrong and the right code
(and the used code again), introspection (also with a wrong administrator
password), revocation (RFC 7009 and the admin form), REGISTERs with the
tokens — and then looks for every secret it saw in everything the node wrote
(structlog's lines on stderr at the node's level, ``info``; the standard
library's records at their production levels) and in every error answer.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass, field

import httpx
import pytest

from sipoauth import admin
from sipoauth.node import Node
from sipoauth.sip import Response

from ._authz_edge import (
    ADMIN,
    CSF_CLIENT,
    DESK_CLIENT,
    REDIRECT_URI,
    activate,
    add_phone,
    add_user,
    claims_of,
    introspect,
    new_code,
    parameter,
    register,
    sign_in,
    until_known,
    web,
)
from ._support import Prepared

REFRESH_FLOW = "OAuth with Refresh Login Flow"
WRONG_ADMIN_PASSWORD = "not-the-admin-password-7f3a"


def _windows(secret: str, width: int) -> list[str]:
    """The secret and pieces of it (start, middle, end): a log that cut a secret
    short still leaks it."""
    if len(secret) <= width:
        return [secret]
    middle = (len(secret) - width) // 2
    return [secret, secret[:width], secret[middle : middle + width], secret[-width:]]


@dataclass
class Secrets:
    """Everything that must never be written, by what it is."""

    found: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, *values: str) -> None:
        self.found.setdefault(kind, []).extend(v for v in values if v)

    def token(self, kind: str, token: str) -> None:
        """A JWE access token: the whole and its ciphertext (the protected header is
        the same for every token, not a secret)."""
        parts = token.split(".")
        assert len(parts) == 5, "access tokens are JWE compact serialisations"
        self.add(kind, token, *_windows(parts[3], 24), *_windows(parts[4], 16))

    def opaque(self, kind: str, value: str) -> None:
        self.add(kind, *_windows(value, 16))

    def activation_code(self, kind: str, code: str) -> None:
        self.add(kind, code, admin.format_activation_code(code), code[:8], code[8:])

    def redact(self, text: str) -> str:
        """The text with every secret replaced by its kind (for failure messages)."""
        for kind, values in self.found.items():
            for value in sorted(values, key=len, reverse=True):
                text = text.replace(value, f"<{kind}>")
        return text

    def leaks(self, text: str) -> list[str]:
        return sorted(
            {kind for kind, values in self.found.items() if any(v in text for v in values)}
        )


@dataclass
class Answers:
    """Error answers (HTTP and SIP) and sign-in pages seen during the flows."""

    texts: list[str] = field(default_factory=list)

    def http(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400 or "text/html" in response.headers.get("content-type", ""):
            self.texts.append(f"{response.status_code} {response.headers} {response.text}")
        return response

    def sip(self, response: Response) -> Response:
        if response.status >= 300:
            self.texts.append(f"{response.status} {response.reason} {response.headers}")
        return response


async def _until_revoked(node: Node, sid: str) -> None:
    """Wait for the ``grants`` notification to reach the node (a bound, not a timing
    assertion)."""
    for _ in range(400):
        if node.directory.grant_revoked(sid):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"revocation of {sid} never reached the node")


async def _run_flows(prepared: Prepared, node: Node) -> tuple[Secrets, Answers]:
    """Every flow of the authorization server once; the secrets it saw, the error
    answers it got."""
    store = node.store
    secrets = Secrets()
    answers = Answers()
    keys = node.authz.keys if node.authz else prepared.tokens.keys
    pem_body = [
        line
        for line in keys.current_signing.to_pem().decode().splitlines()
        if line and not line.startswith("-----")
    ]
    secrets.add("signing key (PEM body)", *pem_body)
    secrets.add("encryption key", *_windows(keys.current_encryption.to_base64(), 16))
    hmac_key = await admin.activation_key(store)
    secrets.add("activation-code key", base64.b64encode(hmac_key).decode(), hmac_key.hex())
    secrets.add("administrator password", ADMIN[1], WRONG_ADMIN_PASSWORD)

    user = await add_user(store)
    phone = await add_phone(store)
    code = await new_code(store, phone.name)
    wrong_code = "".join(reversed(code)) if code != code[::-1] else "1234567812345678"
    secrets.add("password", user.password, user.password + "-typo")
    secrets.activation_code("activation code", code)
    secrets.activation_code("wrong activation code", wrong_code)
    await until_known(node, phone.name, user.soft_client)

    async with parameter(node, REFRESH_FLOW, "Enabled"), web(prepared, node) as client:
        # Sign-in: a wrong password, then the right one; the code exchange.
        first = await sign_in(
            client, user.user_id, user.password, wrong_password=user.password + "-typo"
        )
        for page in first.pages:
            answers.http(page)
        assert "Invalid user ID or password" in first.pages[1].text
        assert first.token.status_code == 200, first.token.text
        tokens = first.token.json()
        secrets.opaque("authorization code", first.code)
        secrets.opaque("PKCE verifier", first.verifier)
        secrets.token("access token", tokens["access_token"])
        secrets.opaque("refresh token", tokens["refresh_token"])

        # Refresh (rotation), then the access token registers the soft client.
        refreshed = answers.http(
            await client.post(
                "/oauth/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": CSF_CLIENT,
                    "refresh_token": tokens["refresh_token"],
                },
            )
        )
        assert refreshed.status_code == 200, refreshed.text
        rotated = refreshed.json()
        secrets.token("access token", rotated["access_token"])
        secrets.opaque("refresh token", rotated["refresh_token"])
        ok = answers.sip(await register(prepared, node, user.ident(), rotated["access_token"]))
        assert ok.status == 200

        # Introspection (RFC 7662), with the right and a wrong administrator password.
        assert (await introspect(client, rotated["access_token"]))["active"] is True
        refused = answers.http(
            await client.post(
                "/oauth/introspect",
                data={"token": rotated["access_token"]},
                auth=(ADMIN[0], WRONG_ADMIN_PASSWORD),
            )
        )
        assert refused.status_code == 401

        # Revocation (RFC 7009): the grant goes, its access token is refused in SIP.
        revoked = answers.http(
            await client.post(
                "/oauth/revoke",
                data={"token": rotated["refresh_token"], "client_id": CSF_CLIENT},
            )
        )
        assert revoked.status_code == 200
        await _until_revoked(node, claims_of(node, rotated["access_token"]).sid)
        gone = answers.sip(await register(prepared, node, user.ident(), rotated["access_token"]))
        assert gone.status in (401, 407)

        # The rotated refresh token replayed; an authorization code replayed.
        replay = answers.http(
            await client.post(
                "/oauth/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": CSF_CLIENT,
                    "refresh_token": tokens["refresh_token"],
                },
            )
        )
        assert replay.status_code == 400
        second = await sign_in(client, user.user_id, user.password)
        for page in second.pages:
            answers.http(page)
        assert second.token.status_code == 200, second.token.text
        secrets.opaque("authorization code", second.code)
        secrets.opaque("PKCE verifier", second.verifier)
        secrets.token("access token", second.token.json()["access_token"])
        secrets.opaque("refresh token", second.token.json()["refresh_token"])
        reused = answers.http(
            await client.post(
                "/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": second.code,
                    "redirect_uri": REDIRECT_URI,
                    "client_id": CSF_CLIENT,
                    "code_verifier": second.verifier,
                },
            )
        )
        assert reused.status_code == 400

        # Activation: a wrong code, the right one (dashed), the used one again.
        bad = answers.http(await activate(client, admin.format_activation_code(wrong_code), phone))
        assert bad.status_code == 400
        good = answers.http(await activate(client, admin.format_activation_code(code), phone))
        assert good.status_code == 200, good.text
        desk = good.json()
        secrets.token("access token", desk["access_token"])
        secrets.opaque("refresh token", desk["refresh_token"])
        used = answers.http(await activate(client, code, phone))
        assert used.status_code == 400
        desk_ok = answers.sip(await register(prepared, node, phone.ident(), desk["access_token"]))
        assert desk_ok.status == 200

        # The administrators' revoke form, and a token of the wrong client revoked.
        form = answers.http(
            await client.get("/ssosp/token/revoke", params={"user_id": user.user_id}, auth=ADMIN)
        )
        assert form.status_code == 200
        answers.http(
            await client.post(
                "/oauth/revoke", data={"token": desk["refresh_token"], "client_id": CSF_CLIENT}
            )
        )
        answers.http(
            await client.post(
                "/oauth/token", data={"grant_type": "password", "client_id": DESK_CLIENT}
            )
        )
    return secrets, answers


async def test_no_secret_in_logs_or_error_answers(
    prepared: Prepared,
    node: Node,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 3 point 9, STYLE.md rule 10, docs/oauth.md "Errors and logs": no access
    token, refresh token, authorization code, activation code (with or without
    dashes), password, PKCE verifier or key material in any log line or error
    answer, across every flow."""
    secrets, answers = await _run_flows(prepared, node)
    captured = capfd.readouterr()
    lines = (captured.err + captured.out).splitlines()
    lines += [record.getMessage() for record in caplog.records]
    for expected in (
        "sign-in failed",
        "signed in",
        "tokens issued",
        "activation code refused",
        "grant revoked",
        "tokens revoked by an administrator",
    ):
        assert any(expected in line for line in lines), f"no {expected!r} line: capture broken?"
    leaked = [secrets.redact(line) for line in lines if secrets.leaks(line)]
    assert not leaked, leaked
    shown = [secrets.redact(text)[:500] for text in answers.texts if secrets.leaks(text)]
    assert not shown, shown
    assert len(answers.texts) >= 8


def test_secrets_helper_finds_pieces() -> None:
    """The scan is not vacuous: a cut-down token or a dashed code is found."""
    found = Secrets()
    found.opaque("refresh token", "abcdefghijklmnopqrstuvwxyz0123456789ABCD")
    found.activation_code("activation code", "1234567890123456")
    assert found.leaks("token=...klmnopqrstuvwxyz012...") == ["refresh token"]
    assert found.leaks("code 1234-5678-9012-3456") == ["activation code"]
    assert found.leaks("nothing here") == []


async def test_no_secret_in_standard_library_debug_records(
    prepared: Prepared, node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    """STYLE.md rule 10 whatever the operator's logging level: with the standard
    library's loggers at DEBUG, the authorization server's own libraries (Authlib's
    grants) must not write the tokens they issue."""
    caplog.set_level(logging.DEBUG)
    secrets, _ = await _run_flows(prepared, node)
    leaked = [
        f"{record.name}: {secrets.redact(record.getMessage())[:200]}"
        for record in caplog.records
        if record.name.startswith(("sipoauth", "authlib", "uvicorn", "starlette"))
        and secrets.leaks(record.getMessage())
    ]
    assert not leaked, leaked
