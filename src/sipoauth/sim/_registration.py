"""A device's registrations: one flow to one node, one binding per line.

Theory of operation. :meth:`RegistrationSession.attach` walks the device's
CallManager group in order (docs/provisioning.md "The node list"): it opens a
TLS flow to a member's ``sipOAuthPort`` and registers every line there; a
member that cannot be reached, times out, answers ``503``, or keeps refusing
with the prerequisite ``403`` + ``Retry-After`` (R7, R8: e.g. a node that has
not heard of the device yet) makes it fall back to the next. Refusals that
another node would repeat (``403`` for a token of another device, ``404``,
``401 invalid_token``) end the walk at once.

Each line is its own address-of-record with its own Call-ID and CSeq
(RFC 3261 §10.2.4: same Call-ID for the boot cycle, CSeq + 1 each time); every
binding carries the device's ``+sip.instance`` and ``reg-id=1`` (RFC 5626
§4.2), the device name and model the registrar identifies it by
(docs/registrar.md), and the access token in ``Authorization: Bearer`` (RFC
8898) or, with ``proxy_form``, as deployed phones send it. The registrar's
granted ``Expires`` is returned; the device re-registers before it ends.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sipoauth.sip import Request, Response

from ._config import CallManagerEntry
from ._flow import FlowClosed, SipFlow
from ._phone import PhoneIdentity, register_request

__all__ = [
    "NodeUnavailable",
    "RegistrationRefused",
    "RegistrationSession",
    "TokenRejected",
]

SUPPORTED: Final = "Supported: path, outbound"
REG_ID: Final = 1
_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*"([^"]*)"')


class NodeUnavailable(Exception):
    """This node cannot take the registration now: try the next one."""


class RegistrationRefused(Exception):
    """The registrar refused for a reason every node would give."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TokenRejected(Exception):
    """401/407 ``invalid_token`` (RFC 8898 §2.3): expired, forged or revoked."""

    def __init__(self, description: str) -> None:
        super().__init__(description or "invalid_token")
        self.description = description

    @property
    def revoked(self) -> bool:
        return "revoked" in self.description


@dataclass(slots=True)
class _Line:
    call_id: str
    from_tag: str
    cseq: int = 0


def _challenge_params(response: Response) -> dict[str, str]:
    header = response.get("www-authenticate") or response.get("proxy-authenticate") or ""
    return {name.lower(): value for name, value in _PARAM.findall(header)}


def _describe(response: Response) -> str:
    text = f"{response.status} {response.reason}".strip()
    warning = response.get("warning")
    if warning:
        quoted = warning.split('"')
        text += f" ({quoted[1] if len(quoted) > 2 else warning})"
    return text


class RegistrationSession:
    """The device's current flow and its lines' bindings."""

    def __init__(
        self,
        *,
        device: str,
        model: str,
        instance: str,
        timeout: float,
        requested_expires: int,
        proxy_form: bool,
        retry_after_max: float,
        prerequisite_attempts: int,
        keepalive_interval: float,
        pong_timeout: float,
        on_request: Callable[[Request], None],
        on_change: Callable[[], None],
        on_failover: Callable[[str], None],
    ) -> None:
        self.device = device
        self.model = model
        self.instance = instance
        self.timeout = timeout
        self.requested_expires = requested_expires
        self.proxy_form = proxy_form
        self.retry_after_max = retry_after_max
        self.prerequisite_attempts = prerequisite_attempts
        self.keepalive_interval = keepalive_interval
        self.pong_timeout = pong_timeout
        self._on_request = on_request
        self._on_change = on_change
        self._on_failover = on_failover
        self.flow: SipFlow | None = None
        self.node: CallManagerEntry | None = None
        self.registered: tuple[str, ...] = ()
        """Lines bound on the current flow."""
        self._lines: dict[str, _Line] = {}

    def new_boot(self) -> None:
        """A reboot: new Call-IDs (RFC 3261 §10.2.4 — one per boot cycle)."""
        self._lines.clear()

    async def attach(
        self,
        nodes: Sequence[CallManagerEntry],
        context: ssl.SSLContext,
        token: str,
        lines: Sequence[str],
    ) -> int:
        """Register ``lines`` with the first node that takes them; the granted
        Expires. NodeUnavailable (naming each node's problem) when none does."""
        problems: list[str] = []
        for number, entry in enumerate(nodes):
            await self.close()
            try:
                self.flow = await SipFlow.open(
                    entry.host,
                    entry.sip_oauth_port,
                    context,
                    timeout=self.timeout,
                    on_request=self._on_request,
                    on_change=self._on_change,
                )
                self.node = entry
                granted = await self.register(token, lines)
                self.flow.start_keepalive(self.keepalive_interval, self.pong_timeout)
                return granted
            except (NodeUnavailable, FlowClosed) as exc:
                problems.append(str(exc))
            except (RegistrationRefused, TokenRejected):
                await self.close()
                raise
            more = number + 1 < len(nodes)
            self._on_failover(problems[-1] + ("; trying the next node" if more else ""))
        await self.close()
        raise NodeUnavailable("no node took the registration: " + "; ".join(problems))

    async def register(self, token: str, lines: Sequence[str]) -> int:
        """(Re-)register ``lines`` on the current flow (and unregister lines no
        longer listed); the shortest granted Expires."""
        granted = self.requested_expires
        for line in self.registered:
            if line not in lines:
                await self._unregister_line(line, token)
        self.registered = tuple(line for line in self.registered if line in lines)
        for line in lines:
            granted = min(granted, await self._register_line(line, token))
            if line not in self.registered:
                self.registered = (*self.registered, line)
        return granted

    async def unregister(self, token: str) -> bool:
        """Expires: 0 for every bound line (RFC 3261 §10.2.2); True when all went."""
        ok = True
        for line in self.registered:
            ok = await self._unregister_line(line, token) and ok
        self.registered = ()
        return ok

    async def close(self) -> None:
        flow, self.flow = self.flow, None
        self.registered = ()
        if flow is not None:
            await flow.close()

    # -- one line ------------------------------------------------------------------

    def _request(self, line: str, token: str | None, expires: int) -> tuple[bytes, str]:
        assert self.flow is not None and self.node is not None
        state = self._lines.get(line)
        if state is None:
            state = self._lines[line] = _Line(f"{uuid.uuid4()}", secrets.token_hex(4))
        state.cseq += 1
        branch = f"z9hG4bK-{secrets.token_hex(8)}"
        ident = PhoneIdentity(
            device=self.device,
            line=line,
            domain=self.node.host,
            model=self.model,
            instance=self.instance,
            local=self.flow.local,
        )
        data = register_request(
            ident,
            call_id=state.call_id,
            cseq=state.cseq,
            branch=branch,
            token=token,
            proxy_form=self.proxy_form,
            expires=expires,
            extra=(SUPPORTED,),
            reg_id=REG_ID,
            from_tag=state.from_tag,
        )
        return data, branch

    async def _transact(self, data: bytes, branch: str) -> Response:
        assert self.flow is not None and self.node is not None
        try:
            return await self.flow.transact(data, branch, self.timeout)
        except TimeoutError:
            raise NodeUnavailable(
                f"{self.node.address}: no answer within {self.timeout:g} s"
            ) from None
        except FlowClosed as exc:
            raise NodeUnavailable(str(exc)) from None

    async def _register_line(self, line: str, token: str) -> int:
        assert self.node is not None
        expires = self.requested_expires
        prerequisite = 0
        retried = False
        while True:
            response = await self._transact(*self._request(line, token, expires))
            status = response.status
            if status == 200:
                return _granted(response, expires)
            if status in (401, 407):
                params = _challenge_params(response)
                if params.get("error") == "invalid_token":
                    raise TokenRejected(params.get("error_description", ""))
                raise RegistrationRefused(status, f"challenged although a token was sent: {status}")
            if status == 423 and not retried and response.min_expires:
                expires, retried = response.min_expires, True
                continue
            if status == 500 and not retried:  # CSeq out of order: a new Call-ID
                self._lines.pop(line, None)
                retried = True
                continue
            if status == 503:
                raise NodeUnavailable(f"{self.node.address}: {_describe(response)}")
            retry_after = response.get("retry-after")
            if status == 403 and retry_after is not None:
                prerequisite += 1
                if prerequisite >= self.prerequisite_attempts:
                    # R7/R8 prerequisites are per node (mode applied at restart): next.
                    raise NodeUnavailable(f"{self.node.address}: {_describe(response)}")
                delay = int(retry_after) if retry_after.strip().isdigit() else 1
                await asyncio.sleep(min(delay, self.retry_after_max))
                continue
            raise RegistrationRefused(status, f"{self.node.address}: {_describe(response)}")

    async def _unregister_line(self, line: str, token: str) -> bool:
        try:
            response = await self._transact(*self._request(line, token, 0))
        except NodeUnavailable:
            return False
        return response.status == 200


def _granted(response: Response, requested: int) -> int:
    """The registrar's interval: ``Expires``, else our Contact's ``expires``."""
    header = response.get("expires")
    if header is not None and header.strip().isdigit():
        return int(header)
    return requested
