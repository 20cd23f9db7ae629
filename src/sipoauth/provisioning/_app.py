"""The TFTP service's two web apps: HTTP 6970 (bootstrap) and HTTPS 6971 (R10).

6970, plain HTTP, serves only what a device needs before it can check
anyone's certificate: ``caconfig.json`` (the phone-edge-trust bundle) and
``XMLDefault.cnf.xml`` (where the secure port and the authorization server
are). Never a device's own file: a request for one gets the same 404 whatever
the name, saying where files are served.

6971, HTTPS with the web certificate, serves the same two and
``/<DEVICE>.cnf.xml`` (also under the ``.cnf.xml.sgn`` name phones ask for)
to the holder of a valid access token for that device (``_access``): a
Bearer token in ``Authorization`` (RFC 6750 §2.1; never in the URI). A
request through an authenticated edge (mutual TLS, R12: the connection's
:class:`sipoauth.oauth.Peer` says so, no header can) gets the MRA variant.
Responses carry a strong ETag and answer ``If-None-Match`` with 304, and are
sent gzip-compressed when the client accepts it (RFC 9110 §12.5.3, §13.1.2).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import structlog
from starlette.requests import Request
from starlette.responses import Response

from sipoauth.oauth import SCOPE_CONFIG_READ, AccessClaims, InvalidToken, Peer
from sipoauth.registrar import Directory

from ._access import decide
from ._catalog import ConfigCatalog, Rendered
from ._documents import Variant

__all__ = ["ConfigApp"]

log = structlog.get_logger("sipoauth.provisioning")

Verify = Callable[[str, float], AccessClaims]

CACONFIG: Final = "caconfig.json"
DEFAULT_FILE: Final = "xmldefault.cnf.xml"
_DEVICE_FILE: Final = re.compile(r"/([A-Za-z0-9._-]{1,64}?)\.cnf\.xml(\.sgn)?")
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_BEARER: Final = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*) *")
_DESK_NAME: Final = re.compile(r"(SEP|BAT)[0-9A-F]{12}")
_NOT_SERVED_HERE: Final = (
    "per-device configuration files are served only over HTTPS on the TFTP HTTPS "
    "port (configServers in XMLDefault.cnf.xml; 6971 by default), with the "
    "device's access token"
)
_SECURITY_HEADERS: Final = {"x-content-type-options": "nosniff"}
_NOT_THROUGH_EDGE: Final = (
    "XMLDefault.cnf.xml names the cluster's servers and is not served through the edge"
)


def _error(
    status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps({"error": error, "detail": detail}).encode()
    return Response(
        body,
        status,
        {"cache-control": "no-store", **_SECURITY_HEADERS, **(headers or {})},
        media_type="application/json",
    )


def _quote(text: str) -> str:
    return "".join(ch for ch in text if ch not in '"\\' and 0x20 <= ord(ch) < 0x7F)


def _accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding`` admits gzip (RFC 9110 §12.5.3): an explicit
    ``gzip`` (or ``x-gzip``) entry decides, else ``*``; ``q=0`` refuses."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name] = q
    for name in ("gzip", "x-gzip", "*"):
        if name in weights:
            return weights[name] > 0
    return False


def _matches(header: str, etag: str) -> bool:
    """``If-None-Match`` against one entity tag (weak comparison, RFC 9110 §13.1.2)."""
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def _edge_of(request: Request) -> str | None:
    """The edge entry the request came through (mutual TLS, R12), or None."""
    peer = request.scope.get("state", {}).get("peer")
    return peer.via_edge if isinstance(peer, Peer) else None


def _canonical(name: str) -> str:
    upper = name.upper()
    return upper if _DESK_NAME.fullmatch(upper) else name


class ConfigApp:
    """One of the two listeners' ASGI app (``secure`` for 6971)."""

    def __init__(
        self,
        catalog: ConfigCatalog,
        *,
        secure: bool,
        verify: Verify | None = None,
        directory: Callable[[], Directory] | None = None,
    ) -> None:
        if secure and (verify is None or directory is None):
            raise ValueError("the HTTPS app checks tokens: verify and directory are needed")
        self.catalog = catalog
        self.secure = secure
        self._verify = verify
        self._directory = directory

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except Exception:
            log.exception("configuration request failed", path=scope.get("path", "")[:100])
            response = _error(500, "server_error", "the file could not be produced; try again")
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """The response to one request."""
        method = request.method
        if method not in ("GET", "HEAD"):
            return _error(
                405, "method_not_allowed", "files are read with GET", {"allow": "GET, HEAD"}
            )
        path: str = request.scope["path"]
        lowered = path.lower()
        if lowered == "/" + CACONFIG:
            return self._file(request, self.catalog.caconfig)
        if lowered == "/" + DEFAULT_FILE:
            if _edge_of(request) is not None:
                # It lists the nodes' addresses and ports: never outside. A phone
                # outside is set up by its activation code and its edge.
                return _error(404, "not_found", _NOT_THROUGH_EDGE)
            return self._file(request, self.catalog.default_file)
        match = _DEVICE_FILE.fullmatch(path)
        if match is None:
            return _error(404, "not_found", "no such file")
        if not self.secure:
            return _error(404, "not_found", _NOT_SERVED_HERE)
        return await self._device_file(request, _canonical(match.group(1)))

    async def _device_file(self, request: Request, name: str) -> Response:
        assert self._verify is not None and self._directory is not None
        edge = _edge_of(request)
        remote = request.client.host if request.client else "unknown"
        realm = _quote(self.catalog.realm)

        if request.scope["query_string"] and "access_token" in request.query_params:
            return self._refuse(
                400,
                "invalid_request",
                "a token in the URI is not accepted: send it in Authorization",
                name,
                remote,
                {"www-authenticate": f'Bearer realm="{realm}", error="invalid_request"'},
            )
        header = request.headers.get("authorization")
        if header is None or not header[:7].lower().startswith("bearer"):
            # No Bearer credentials: challenge, saying nothing about the device.
            challenge = f'Bearer realm="{realm}", scope="{SCOPE_CONFIG_READ}"'
            return self._refuse(
                401,
                "unauthorized",
                "a bearer access token is required",
                name,
                remote,
                {"www-authenticate": challenge},
                quiet=True,
            )
        bearer = _BEARER.fullmatch(header)
        if bearer is None:
            return self._refuse(
                400,
                "invalid_request",
                "malformed Bearer credentials (RFC 6750 §2.1)",
                name,
                remote,
                {"www-authenticate": f'Bearer realm="{realm}", error="invalid_request"'},
            )
        try:
            claims = self._verify(bearer.group(1), time.time())
            revoked = self._directory().grant_revoked(claims.sid)
        except InvalidToken as exc:
            description = exc.description
        else:
            description = "token revoked" if revoked else ""
        if description:
            challenge = (
                f'Bearer realm="{realm}", error="invalid_token", '
                f'error_description="{_quote(description)}"'
            )
            return self._refuse(
                401, "invalid_token", description, name, remote, {"www-authenticate": challenge}
            )

        decision = decide(claims, name, self._directory().device(name))
        if decision.status != 200:
            headers = {}
            if decision.error == "insufficient_scope":
                headers["www-authenticate"] = (
                    f'Bearer realm="{realm}", error="insufficient_scope", '
                    f'scope="{SCOPE_CONFIG_READ}"'
                )
            error = decision.error or ("forbidden" if decision.status == 403 else "not_found")
            return self._refuse(
                decision.status, error, decision.detail, name, remote, headers, jti=claims.jti
            )
        variant: Variant = "mra" if edge is not None else "on-premises"
        rendered = await self.catalog.device_file(name, variant, edge)
        if rendered is None:
            if edge is not None:
                return self._refuse(
                    403,
                    "forbidden",
                    f"device {name} is not set up for Mobile and Remote Access",
                    name,
                    remote,
                    jti=claims.jti,
                )
            return self._refuse(404, "not_found", f"device {name} does not exist", name, remote)
        return self._file(request, rendered, private=True)

    @staticmethod
    def _refuse(
        status: int,
        error: str,
        detail: str,
        name: str,
        remote: str,
        headers: Mapping[str, str] | None = None,
        *,
        jti: str | None = None,
        quiet: bool = False,
    ) -> Response:
        if not quiet:
            log.info(
                "configuration file refused",
                device=name,
                status=status,
                why=detail,
                jti=jti,
                remote=remote,
            )
        return _error(status, error, detail, headers)

    @staticmethod
    def _file(request: Request, rendered: Rendered, *, private: bool = False) -> Response:
        zipped = rendered.gzipped is not None and _accepts_gzip(
            request.headers.get("accept-encoding", "")
        )
        body = rendered.gzipped if zipped and rendered.gzipped is not None else rendered.body
        etag = rendered.gzip_etag if zipped else rendered.etag
        headers = {
            "etag": etag,
            "cache-control": "private, no-cache" if private else "no-cache",
            "vary": "Accept-Encoding, Authorization" if private else "Accept-Encoding",
            **_SECURITY_HEADERS,
        }
        if zipped:
            headers["content-encoding"] = "gzip"
        condition = request.headers.get("if-none-match")
        if condition is not None and _matches(condition, etag):
            return Response(b"", 304, headers)
        headers["content-length"] = str(len(body))
        if request.method == "HEAD":
            body = b""
        return Response(body, 200, headers, media_type=rendered.media_type)
