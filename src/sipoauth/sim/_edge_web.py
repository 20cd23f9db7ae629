"""The edge's HTTP side: a reverse proxy to the nodes over mutual TLS, and the push.

Two Starlette apps, both allow-lists (anything else is a JSON 404; a known
path with another method a 405 with ``Allow``):

* HTTPS (outside web port): the authorization server's public endpoints —
  ``/.well-known/oauth-authorization-server``, ``/oauth/jwks``,
  ``/oauth/authorize`` (GET, POST), ``/oauth/token``, ``/oauth/revoke`` — go
  to a node's web port; ``/caconfig.json`` and ``/<DEVICE>.cnf.xml[.sgn]``
  to its TFTP HTTPS port. Never the REST API, introspection, the admin
  revocation form or ``XMLDefault.cnf.xml`` (it names the cluster's servers):
  those are for the inside.
* plain HTTP (outside bootstrap port): only ``caconfig.json``, from the
  node's plain TFTP port.

Upstream connections are mutual TLS with the edge's client certificate
(httpx, keep-alive pooled), the node's certificate checked against the
configured CA file(s): the node classifies the connection as coming through
an authenticated edge — *via MRA* (docs/oauth.md "Through the edge") — and
takes the device's address from the last ``X-Forwarded-For`` entry, which the
edge appends. Method, path and query (as sent, percent-encoding kept), body
and end-to-end headers are forwarded; hop-by-hop headers (RFC 9110 §7.6.1)
are not, ``Host`` names the node and ``Via`` this edge (§7.6.3). A node that
cannot be reached is skipped for the next (only connection failures: a
request that may have reached a node is never sent again — a token request
is not idempotent); none reachable: 502. Bodies are bounded both ways (413
from outside, 502 from a node). Logs carry method, path (never the query:
it may hold a code) and status; never a header.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Final, Literal

import httpx
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._edge_config import EdgeConfig, NodeAddress, NodeSelector

__all__ = ["EdgeWeb", "PushOutcome"]

log = structlog.get_logger("sipoauth.edge")

Target = Literal["web", "tftps", "tftp"]
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
"""RFC 9110 §7.6.1 (and Host / Content-Length, which the edge writes itself)."""
CACONFIG: Final = "caconfig.json"
# The device-file names the node serves (provisioning/_app.py), so nothing else
# is even asked for.
_DEVICE_FILE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}?\.cnf\.xml(\.sgn)?")
PUSH_PATH: Final = "/api/v1/edges/push"


def _json(
    status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps({"error": error, "detail": detail}).encode()
    return Response(
        body,
        status,
        {
            "cache-control": "no-store",
            "date": formatdate(usegmt=True),
            "x-content-type-options": "nosniff",
            **(headers or {}),
        },
        media_type="application/json",
    )


class _TooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What the certificate push got."""

    ok: bool
    node: str | None
    """The node that answered (``host:web port``), or ``None``: none reachable."""
    status: int | None
    detail: str
    """The entry's names on success, else the reason."""


class EdgeWeb:
    """The HTTP apps and the upstream client of one edge."""

    def __init__(
        self,
        config: EdgeConfig,
        selector: NodeSelector,
        upstream_context: ssl.SSLContext,
    ) -> None:
        self._config = config
        self._selector = selector
        self._context = upstream_context
        self._client = self._new_client()
        self._via = f"1.1 {config.public_host}"
        self.requests = 0
        """Requests proxied (answered by a node) so far."""

    def _new_client(self) -> httpx.AsyncClient:
        config = self._config
        client = httpx.AsyncClient(
            verify=self._context,
            timeout=httpx.Timeout(config.upstream_timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            trust_env=False,
        )
        # Only what the device sent goes up (an Accept-Encoding the device did not
        # send would get it a gzip body it cannot read).
        for name in ("accept", "accept-encoding", "user-agent"):
            client.headers.pop(name, None)
        return client

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- apps ------------------------------------------------------------------------

    def https_app(self) -> Starlette:
        """The outside HTTPS port's app."""

        def to(target: Target) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return await self._forward(request, target)

            return endpoint

        async def files(request: Request) -> Response:
            name = request.path_params["name"]
            lowered = name.lower()
            if lowered == CACONFIG or _DEVICE_FILE.fullmatch(name):
                return await self._forward(request, "tftps")
            return _json(404, "not_found", "no such resource on this edge")

        web = to("web")
        routes = [
            Route("/.well-known/oauth-authorization-server", web, methods=["GET"]),
            Route("/oauth/jwks", web, methods=["GET"]),
            Route("/oauth/authorize", web, methods=["GET", "POST"]),
            Route("/oauth/token", web, methods=["POST"]),
            Route("/oauth/revoke", web, methods=["POST"]),
            Route("/{name:str}", files, methods=["GET"]),
        ]
        return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})

    def bootstrap_app(self) -> Starlette:
        """The outside plain-HTTP port's app: caconfig.json only."""

        async def files(request: Request) -> Response:
            # Not XMLDefault.cnf.xml: it names the cluster's servers, which stay
            # inside (the node refuses it through the edge's HTTPS port too).
            if request.path_params["name"].lower() == CACONFIG:
                return await self._forward(request, "tftp")
            return _json(404, "not_found", "only caconfig.json here")

        routes = [Route("/{name:str}", files, methods=["GET"])]
        return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})

    # -- forwarding ------------------------------------------------------------------

    async def _forward(self, request: Request, target: Target) -> Response:
        path = request.url.path
        try:
            body = await self._body(request)
        except _TooLarge:
            return _json(
                413, "payload_too_large", f"bodies up to {self._config.max_body_size} bytes"
            )
        headers = self._upstream_headers(request)
        raw_path: bytes = request.scope.get("raw_path") or path.encode()
        query: bytes = request.scope.get("query_string", b"")
        target_path = raw_path + (b"?" + query if query else b"")
        for node in self._selector.order(time.monotonic()):
            scheme, port = _where(node, target)
            url = httpx.URL(scheme=scheme, host=node.host, port=port, raw_path=target_path)
            upstream_request = self._client.build_request(
                request.method, url, headers=headers, content=body
            )
            try:
                upstream = await self._client.send(upstream_request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self._selector.failed(node, time.monotonic())
                log.warning("node unreachable", node=f"{node.url_host}:{port}", why=_why(exc))
                continue
            except httpx.HTTPError as exc:
                return self._upstream_failed(request, node, port, exc)
            self._selector.succeeded(node)
            try:
                content = await self._content(upstream)
            except _TooLarge:
                log.warning("node answer too large", path=path, node=f"{node.url_host}:{port}")
                return _json(502, "bad_gateway", "the node's answer is too large")
            except httpx.HTTPError as exc:
                return self._upstream_failed(request, node, port, exc)
            finally:
                await upstream.aclose()
            self.requests += 1
            log.info(
                "proxied",
                method=request.method,
                path=path[:100],
                status=upstream.status_code,
                node=f"{node.url_host}:{port}",
            )
            return self._downstream(request, upstream, content)
        log.warning("no node reachable", method=request.method, path=path[:100])
        return _json(502, "bad_gateway", "no call-control node reachable; try again later")

    def _upstream_failed(
        self, request: Request, node: NodeAddress, port: int, exc: httpx.HTTPError
    ) -> Response:
        where = f"{node.url_host}:{port}"
        path = request.url.path[:100]
        log.warning("node request failed", path=path, node=where, why=_why(exc))
        if isinstance(exc, httpx.TimeoutException):
            return _json(504, "gateway_timeout", "the call-control node did not answer in time")
        return _json(502, "bad_gateway", "the call-control node's answer failed")

    async def _body(self, request: Request) -> bytes:
        limit = self._config.max_body_size
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def _content(self, upstream: httpx.Response) -> bytes:
        """The body exactly as the node sent it (``aiter_raw``: a gzip body stays gzip)."""
        limit = self._config.max_response_size
        chunks: list[bytes] = []
        size = 0
        async for chunk in upstream.aiter_raw():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _upstream_headers(self, request: Request) -> list[tuple[str, str]]:
        """End-to-end headers, the device's address appended to X-Forwarded-For,
        this edge in Via."""
        items = request.headers.items()
        dropped = HOP_BY_HOP | _connection_tokens(items)
        headers = [
            (name, value)
            for name, value in items
            if name not in dropped and name not in ("x-forwarded-for", "via")
        ]
        client = request.client.host if request.client else "unknown"
        forwarded = [v for n, v in items if n == "x-forwarded-for"]
        headers.append(("x-forwarded-for", ", ".join([*forwarded, client])))
        via = [v for n, v in items if n == "via"]
        headers.append(("via", ", ".join([*via, self._via])))
        return headers

    def _downstream(self, request: Request, upstream: httpx.Response, content: bytes) -> Response:
        items = [(k.decode("latin-1").lower(), v) for k, v in upstream.headers.raw]
        dropped = HOP_BY_HOP | _connection_tokens([(k, v.decode("latin-1")) for k, v in items])
        raw: list[tuple[bytes, bytes]] = [
            (name.encode("latin-1"), value) for name, value in items if name not in dropped
        ]
        if request.method == "HEAD":
            length = upstream.headers.get("content-length")
            if length is not None:
                raw.append((b"content-length", length.encode("latin-1")))
        else:
            raw.append((b"content-length", str(len(content)).encode("latin-1")))
        raw.append((b"via", self._via.encode("latin-1")))
        response = Response(b"" if request.method == "HEAD" else content, upstream.status_code)
        response.raw_headers = raw
        return response

    # -- the certificate push ----------------------------------------------------------

    async def push(self) -> PushOutcome:
        """Push the client certificate's names to the first reachable node
        (``POST /api/v1/edges/push``: the node reads the names from the
        certificate itself and creates or updates the entry named ``address``).

        On a connection of its own, closed after: the node classifies a
        connection once, when it is made (``node/_web.py``), so one opened
        before the entry existed would stay "not an edge" — not via MRA — for
        as long as the pool kept it.
        """
        async with self._new_client() as client:
            return await self._push(client)

    async def _push(self, client: httpx.AsyncClient) -> PushOutcome:
        body = {"address": self._config.public_host, "description": self._config.description}
        for node in self._selector.order(time.monotonic()):
            where = f"{node.url_host}:{node.web_port}"
            url = httpx.URL(scheme="https", host=node.host, port=node.web_port, path=PUSH_PATH)
            try:
                response = await client.post(url, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self._selector.failed(node, time.monotonic())
                log.warning("node unreachable", node=where, why=_why(exc))
                continue
            except httpx.HTTPError as exc:
                log.warning("certificate push failed", node=where, why=_why(exc))
                return PushOutcome(False, where, None, _why(exc))
            self._selector.succeeded(node)
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            if not isinstance(answer, dict):
                answer = {}
            if response.status_code == 200:
                names = ", ".join(str(n) for n in answer.get("x509_names") or [])
                log.info(
                    "certificate names pushed",
                    node=where,
                    entry=answer.get("address"),
                    names=names,
                )
                return PushOutcome(True, where, 200, names)
            detail = str(answer.get("detail") or answer.get("error") or response.reason_phrase)
            log.warning(
                "certificate push refused", node=where, status=response.status_code, why=detail
            )
            return PushOutcome(False, where, response.status_code, detail)
        log.warning("certificate push failed", why="no node reachable")
        return PushOutcome(False, None, None, "no node reachable")


def _where(node: NodeAddress, target: Target) -> tuple[str, int]:
    if target == "web":
        return "https", node.web_port
    if target == "tftps":
        return "https", node.tftp_secure_port
    return "http", node.tftp_port


def _connection_tokens(items: Sequence[tuple[str, str]]) -> frozenset[str]:
    """Header names listed in Connection: hop-by-hop too (RFC 9110 §7.6.1)."""
    return frozenset(
        token.strip().lower()
        for name, value in items
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    )


def _why(exc: BaseException) -> str:
    """A short reason for a log line (exception type and message, no URL query)."""
    text = str(exc).split("?", 1)[0]
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 as JSON, like every other answer of the edge."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _json(405, "method_not_allowed", "method not allowed here", exc.headers)
    if exc.status_code == 404:
        return _json(404, "not_found", "no such resource on this edge")
    return _json(exc.status_code, "error", str(exc.detail))
