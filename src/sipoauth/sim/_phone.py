"""A SIP-over-TLS device simulator: registers like a deployed phone or soft client.

Used by the loopback tests and the benchmark, and by engineers to try a node
by hand. It speaks the wire forms of REFERENCE-BEHAVIOUR.md: a first REGISTER
without credentials, then with `Proxy-Authorization: Bearer token="…"` or the
RFC 8898 `Authorization: Bearer …`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import ssl
import uuid
from dataclasses import dataclass, field

from sipoauth.sip import (
    FramedMessage,
    KeepAlivePing,
    Request,
    Response,
    StreamFramer,
    build_response,
    parse_message,
)


@dataclass(slots=True)
class PhoneIdentity:
    """Who the simulated device is."""

    device: str
    """Device name (`SEP<MAC>`, `CSF<user>` …)."""
    line: str
    """Directory number registered (the To user)."""
    domain: str = "localhost"
    model: str = "8851"
    instance: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    local: str = "192.0.2.10:5061"


class SipTlsClient:
    """One TLS connection to a node; sends requests and reads the responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._framer = StreamFramer()
        self._branches = itertools.count(1)
        # RFC 3261 §8.1.1.7: unique across connections and runs, not just here.
        self._branch_prefix = f"z9hG4bK-sim-{secrets.token_hex(6)}-"
        self.pongs = 0
        self.requests: list[Request] = []
        """Requests the node sent down this connection (NOTIFY), in order."""

    @classmethod
    async def connect(
        cls, host: str, port: int, context: ssl.SSLContext, *, server_hostname: str | None = None
    ) -> SipTlsClient:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=server_hostname or host
        )
        return cls(reader, writer)

    @property
    def local_address(self) -> tuple[str, int]:
        """This end of the connection (IP, port), as the node sees it as the source."""
        sock = self._writer.get_extra_info("sockname")
        return str(sock[0]), int(sock[1])

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def receive(self, timeout: float = 10.0) -> Response:
        """The next response on the connection (keep-alive pongs are counted, skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                event = self._framer.next_event()
                if isinstance(event, FramedMessage):
                    message = parse_message(event.data)
                    if isinstance(message, Response):
                        return message
                    if isinstance(message, Request):
                        self.requests.append(message)
                        await self.send(_ok_for(message))
                    continue
                if isinstance(event, KeepAlivePing):
                    self.pongs += 1
                    continue
                if event is not None:
                    raise ConnectionError(f"bad framing from server: {event}")
                data = await self._reader.read(65536)
                if not data:
                    raise ConnectionError("connection closed by the server")
                self._framer.receive_data(data)

    async def request(self, data: bytes, timeout: float = 10.0) -> Response:
        await self.send(data)
        return await self.receive(timeout)

    async def next_request(self, timeout: float = 10.0) -> Request:
        """The next request from the node (answered 200 on arrival)."""
        seen = len(self.requests)
        async with asyncio.timeout(timeout):
            while len(self.requests) == seen:
                with contextlib.suppress(TimeoutError):
                    await self.receive(timeout=0.2)
        return self.requests[seen]

    def next_branch(self) -> str:
        return f"{self._branch_prefix}{next(self._branches)}"

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self._writer.wait_closed()


def _ok_for(request: Request) -> bytes:
    """A 200 to a request from the node (the phone's answer to NOTIFY)."""
    return build_response(request, 200, to_tag=secrets.token_hex(4))


def register_request(
    ident: PhoneIdentity,
    *,
    call_id: str,
    cseq: int,
    branch: str,
    token: str | None = None,
    proxy_form: bool = True,
    expires: int = 3600,
    extra: tuple[str, ...] = (),
    reg_id: int | None = None,
    from_tag: str | None = None,
) -> bytes:
    """A REGISTER as deployed clients send it (REFERENCE-BEHAVIOUR "on the wire").

    ``reg_id``: the RFC 5626 §4.2 flow number, added to the Contact (with
    ``Supported: outbound`` in ``extra``); ``from_tag``: default the first 8
    characters of the Call-ID."""
    aor = f"sip:{ident.line}@{ident.domain}"
    contact = (
        f"<sip:{ident.line}@{ident.local};transport=tls>"
        f';+sip.instance="<{ident.instance}>"'
        + ("" if reg_id is None else f";reg-id={reg_id}")
        + f';+u.sip!devicename.ccm.cisco.com="{ident.device}"'
        f';+u.sip!model.ccm.cisco.com="{ident.model}"'
    )
    lines = [
        f"REGISTER sip:{ident.domain} SIP/2.0",
        f"Via: SIP/2.0/TLS {ident.local};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <{aor}>;tag={from_tag or call_id[:8]}",
        f"To: <{aor}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: {contact}",
        f"Expires: {expires}",
        "User-Agent: sipoauth-sim/0.1",
        *extra,
    ]
    if token is not None:
        if proxy_form:
            lines.append(f'Proxy-Authorization: Bearer token="{token}"')
        else:
            lines.append(f"Authorization: Bearer {token}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
