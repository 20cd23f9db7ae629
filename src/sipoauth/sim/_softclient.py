"""The soft-client simulator (issue 6 point 2): sign-in with code + PKCE.

A soft client (R1.1: ``CSF`` desktop, ``BOT`` Android, ``TCT`` iPhone,
``TAB`` tablet) signs its user in with the refresh login flow (R1.2, R4):
the authorization code grant with PKCE S256 (RFC 6749 §4.1, RFC 7636) as a
native app does it (RFC 8252). It listens on a loopback port for the redirect
(§7.3: ``http://127.0.0.1:<port>/callback``, which the ``sipoauth-csf`` …
clients accept on any port), then plays the browser: fetches the sign-in page
at the authorization endpoint, reads the form (its hidden fields and CSRF
token, and the CSRF cookie), posts the user id and password, and follows the
redirect to its own listener, where the code arrives. It exchanges the code
for tokens and then lives the shared lifecycle of :class:`SimDevice` —
including refresh-token rotation — until stopped or until its grant is revoked.

Its device is the user's ``CSF…`` / ``BOT…`` … record (``device``; by default
the type followed by the user id, upper-cased, as the reference names them).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Final
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from ._config import EdgeAddress, ServerAddress
from ._device import SimDevice
from ._errors import SimFailure
from ._http import HttpError, HttpResponse
from ._network import DeviceSettings, SimNetwork
from ._tokens import OAuthFailure, pkce_pair, request_tokens

__all__ = ["SOFT_CLIENT_IDS", "SoftClient", "SoftClientConfig", "default_device_name"]

SOFT_CLIENT_IDS: Final = {
    "CSF": "sipoauth-csf",
    "BOT": "sipoauth-bot",
    "TCT": "sipoauth-tct",
    "TAB": "sipoauth-tab",
}
"""The OAuth client of each soft-client type (docs/oauth.md "Clients")."""
SCOPE: Final = "sip:register config:read"
REDIRECT_PATH: Final = "/callback"
MAX_REDIRECT_REQUEST: Final = 8192
"""Largest request the loopback listener reads (bytes)."""
_INSTANCE_NAMESPACE = uuid.UUID("0b5f3e9a-6d2c-4f71-8e4a-9c3d2b1a0f6e")


def default_device_name(client_type: str, user: str) -> str:
    """``CSF`` + the user id upper-cased, letters, digits, ``.``, ``_``, ``-`` only,
    at most 12 of them (the device name rule)."""
    kept = re.sub(r"[^A-Z0-9._-]", "", user.upper())[:12]
    return client_type.upper() + kept


@dataclass(frozen=True, slots=True)
class SoftClientConfig:
    """A simulated soft client."""

    user: str
    password: str
    """The user's password; posted to the sign-in page only, never printed."""
    client_type: str = "CSF"
    """``CSF``, ``BOT``, ``TCT`` or ``TAB``."""
    device: str | None = None
    """The soft-client device the user owns (default: ``default_device_name``)."""
    server: ServerAddress | None = None
    edge: EdgeAddress | None = None
    settings: DeviceSettings = field(default_factory=DeviceSettings)


class _SignInForm(HTMLParser):
    """The sign-in page's form: its action and fields, and the error shown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.error = ""
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "p" and "error" in values.get("class", "").split():
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error += data.strip()


def _cookies(response: HttpResponse) -> str:
    pairs = [value.split(";", 1)[0].strip() for value in response.header_values("set-cookie")]
    return "; ".join(pair for pair in pairs if "=" in pair)


class _LoopbackRedirect:
    """The native app's redirect listener (RFC 8252 §7.3) on 127.0.0.1."""

    def __init__(self) -> None:
        self.result: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._server: asyncio.Server | None = None
        self.uri = ""

    async def __aenter__(self) -> _LoopbackRedirect:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.uri = f"http://127.0.0.1:{port}{REDIRECT_PATH}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        target = urlsplit(parts[1]) if len(parts) == 3 else None
        ok = target is not None and parts[0] == "GET" and target.path == REDIRECT_PATH
        text = b"Signed in. You may close this window." if ok else b"Not found."
        status = b"200 OK" if ok else b"404 Not Found"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(text)).encode() + b"\r\n\r\n" + text
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()
        if ok and target is not None and not self.result.done():
            query = parse_qs(target.query)
            self.result.set_result({key: values[0] for key, values in query.items()})


class SoftClient(SimDevice):
    """A soft client: sign-in (code + PKCE), then the shared lifecycle."""

    def __init__(self, config: SoftClientConfig, *, network: SimNetwork | None = None) -> None:
        kind = config.client_type.upper()
        if kind not in SOFT_CLIENT_IDS:
            raise ValueError(f"soft-client type {config.client_type!r}: CSF, BOT, TCT or TAB")
        name = config.device or default_device_name(kind, config.user)
        super().__init__(
            name=name,
            model=kind,
            instance=f"urn:uuid:{uuid.uuid5(_INSTANCE_NAMESPACE, name)}",
            server=config.server,
            edge=config.edge,
            settings=config.settings,
            network=network,
        )
        self.config = config
        self.client_id = SOFT_CLIENT_IDS[kind]

    async def _obtain_tokens(self) -> None:
        async with _LoopbackRedirect() as redirect:
            code, verifier = await self._sign_in(redirect)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect.uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        try:
            self.tokens = await request_tokens(
                self.network.http,
                self.token_endpoint(),
                form,
                context=self.context(),
                now=self._loop.time(),
            )
        except OAuthFailure as exc:
            raise SimFailure("sign-in", f"code exchange refused: {exc}") from None
        refresh = "refresh token" if self.tokens.refresh_token else "no refresh token"
        self.emit(
            "signed-in",
            f"signed in as {self.config.user} ({self.client_id}, PKCE S256; "
            f"access token {self.tokens.expires_in} s, {refresh})",
            user=self.config.user,
            client_id=self.client_id,
            expires_in=self.tokens.expires_in,
        )

    async def _sign_in(self, redirect: _LoopbackRedirect) -> tuple[str, str]:
        """The browser part: page, form, post, redirect; (code, verifier)."""
        http, context = self.network.http, self.context()
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect.uri,
            "scope": SCOPE,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = f"{self.authorization_endpoint()}?{urlencode(params)}"
        try:
            page = await http.get(url, context=context)
            form = _SignInForm()
            form.feed(page.body.decode("utf-8", "replace"))
            if page.status != 200 or form.action is None or "csrf_token" not in form.fields:
                raise SimFailure(
                    "sign-in",
                    f"no sign-in form at the authorization endpoint "
                    f"(HTTP {page.status}{': ' + form.error if form.error else ''})",
                )
            fields = {**form.fields, "user_id": self.config.user, "password": self.config.password}
            cookie = _cookies(page)
            answer = await http.post_form(
                urljoin(url, form.action),
                fields,
                context=context,
                headers=[("Cookie", cookie)] if cookie else [],
            )
            location = answer.header("location")
            if answer.status not in (302, 303) or location is None:
                shown = _SignInForm()
                shown.feed(answer.body.decode("utf-8", "replace"))
                why = shown.error or f"HTTP {answer.status}"
                raise SimFailure("sign-in", f"sign-in as {self.config.user} refused: {why}")
            if not location.startswith(redirect.uri):
                raise SimFailure("sign-in", "the sign-in redirected elsewhere than the app")
            await http.get(location)  # the browser follows the redirect to the app
            async with asyncio.timeout(self.settings.http_timeout):
                query = await redirect.result
        except HttpError as exc:
            raise SimFailure("sign-in", f"sign-in failed: {exc}") from None
        except TimeoutError:
            raise SimFailure("sign-in", "the redirect never reached the app") from None
        if query.get("state") != state:
            raise SimFailure("sign-in", "the redirect's state does not match (RFC 6749 §10.12)")
        if "error" in query or "code" not in query:
            why = query.get("error_description") or query.get("error", "no code")
            raise SimFailure("sign-in", f"sign-in refused: {why}")
        return query["code"], verifier
