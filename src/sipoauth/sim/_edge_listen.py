"""An HTTP(S) listener serving an ASGI app with uvicorn, inside the edge's loop.

As the node does (``node/_web.py``), the socket is created here and uvicorn's
h11 protocol is used directly, so no uvicorn ``Server`` takes over signal
handling: the ``sipoauth edge serve`` command owns SIGINT/SIGTERM. No default
``Date``/``Server`` header is added: proxied answers carry the node's, and the
edge's own answers set theirs (``_edge_web``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

__all__ = ["HttpListener"]


class HttpListener:
    """One listener (HTTPS with ``ssl_context``, else plain HTTP); start/stop at will."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        keep_alive: float = 30.0,
        handshake_timeout: float = 10.0,
    ) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=int(keep_alive),
        )
        self._config.load()
        self._ssl = ssl_context
        self._handshake_timeout = handshake_timeout
        self._state = ServerState()
        self._server: asyncio.Server | None = None
        self.host = host
        self.port = port

    async def start(self) -> int:
        """Listen; returns the bound port."""
        config, state = self._config, self._state

        def factory() -> asyncio.Protocol:
            return H11Protocol(config=config, server_state=state, app_state={})

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory,
            host=self.host,
            port=self.port,
            ssl=self._ssl,
            ssl_handshake_timeout=self._handshake_timeout if self._ssl is not None else None,
            backlog=config.backlog,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._state.connections):
            connection.shutdown()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
