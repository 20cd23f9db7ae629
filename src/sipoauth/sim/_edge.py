"""The edge proxy (issue 6 point 3): an Expressway-C/E pair in one process.

Devices outside reach three listeners, each with the edge's own certificate
(issued by a CA the phones trust: phone-edge-trust):

* SIP over TLS (5061): each device connection is paired with one mutual-TLS
  connection to a node's SIP MRA port (5091), the edge in ``Path``
  (``_edge_sip``, ``_edge_relay``);
* HTTPS (8443): the authorization server's public endpoints and the TFTP
  HTTPS files, reverse-proxied to the node over mutual TLS, so the node knows
  the request came via MRA (``_edge_web``);
* HTTP (6970): the two bootstrap files only.

Towards the nodes the edge presents its client certificate, which must chain
to tomcat-trust and name an edge entry (R6); on start it pushes that
certificate's names to the first reachable node (``POST
/api/v1/edges/push``), which creates or updates its entry, before it serves
devices. A failed push is logged, never fatal: an administrator may have
added the entry already.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from dataclasses import dataclass

import structlog

from sipoauth.node import HttpListener
from sipoauth.pki import client_ssl_context, server_ssl_context

from ._edge_config import EdgeConfig, NodeSelector
from ._edge_messages import edge_path
from ._edge_sip import EdgeSip
from ._edge_web import EdgeWeb, PushOutcome

__all__ = ["Edge", "EdgeListener"]

log = structlog.get_logger("sipoauth.edge")


@dataclass(frozen=True, slots=True)
class EdgeListener:
    """A listener the edge opened, as ``sipoauth edge serve`` prints it."""

    name: str
    protocol: str
    host: str
    port: int


class Edge:
    """One edge: build it with an :class:`EdgeConfig`, then ``start`` / ``close``."""

    def __init__(self, config: EdgeConfig, *, secret: bytes | None = None) -> None:
        self.config = config
        self.selector = NodeSelector(config.nodes, config.node_retry_after)
        node_cas = [path.read_bytes() for path in config.node_ca_files]
        outside = server_ssl_context(config.server_cert, config.server_key)
        # Two client contexts: httpx sets ALPN on the one it is given.
        sip_upstream = client_ssl_context(node_cas, config.client_cert, config.client_key)
        web_upstream = client_ssl_context(node_cas, config.client_cert, config.client_key)
        self.sip = EdgeSip(
            config,
            self.selector,
            outside,
            sip_upstream,
            secret=secret if secret is not None else secrets.token_bytes(32),
        )
        self.web = EdgeWeb(config, self.selector, web_upstream)
        self._https = HttpListener(
            self.web.https_app(),
            host=config.bind,
            port=config.web_port,
            ssl_context=_https_context(config),
            handshake_timeout=config.handshake_timeout,
            date_header=False,  # proxied answers carry the node's; the edge's own set theirs
        )
        self._bootstrap = HttpListener(
            self.web.bootstrap_app(),
            host=config.bind,
            port=config.bootstrap_port,
            ssl_context=None,
            date_header=False,
        )
        self.listeners: list[EdgeListener] = []
        """What the edge listens on while running: SIP, HTTPS, HTTP."""
        self.push_outcome: PushOutcome | None = None
        """What the certificate push of :meth:`start` got (``None``: no push)."""

    @property
    def sip_port(self) -> int:
        return self.listeners[0].port

    @property
    def web_port(self) -> int:
        return self.listeners[1].port

    @property
    def bootstrap_port(self) -> int:
        return self.listeners[2].port

    @property
    def path(self) -> str:
        """The Path value the edge adds to REGISTERs (once started)."""
        assert self.sip.settings is not None, "start the edge first"
        return edge_path(self.sip.settings)

    async def start(self) -> list[EdgeListener]:
        """Push the certificate names (when configured), then open the three
        listeners (a port 0 takes a free one).

        The push comes first, and a successful one is given ``push_settle``
        seconds: the node classifies each HTTPS connection once, when it is
        made, with the entries it has loaded then, so a device's request
        arriving before the node knew the entry would not count as via MRA.
        """
        config = self.config
        if config.push_on_start:
            self.push_outcome = await self._push()
            if self.push_outcome.ok:
                await asyncio.sleep(config.push_settle)
        try:
            sip = await self.sip.start()
            https = await self._https.start()
            bootstrap = await self._bootstrap.start()
        except BaseException:
            await self.close()
            raise
        self.listeners = [
            EdgeListener("SIP (devices)", "TLS", config.bind, sip),
            EdgeListener("HTTPS (OAuth, config files)", "HTTPS", config.bind, https),
            EdgeListener("HTTP (bootstrap files)", "HTTP", config.bind, bootstrap),
        ]
        log.info(
            "edge started",
            public_host=config.public_host,
            sip=sip,
            https=https,
            http=bootstrap,
            nodes=[str(n) for n in config.nodes],
        )
        return self.listeners

    async def _push(self) -> PushOutcome:
        try:
            return await self.web.push()
        except Exception as exc:  # never fatal (module doc)
            log.exception("certificate push failed")
            return PushOutcome(False, None, None, type(exc).__name__)

    async def close(self) -> None:
        """Stop listening, close every flow and the upstream connections."""
        await self._https.stop()
        await self._bootstrap.stop()
        await self.sip.stop()
        await self.web.aclose()
        self.listeners = []


def _https_context(config: EdgeConfig) -> ssl.SSLContext:
    context = server_ssl_context(config.server_cert, config.server_key)
    context.set_alpn_protocols(["http/1.1"])
    return context
