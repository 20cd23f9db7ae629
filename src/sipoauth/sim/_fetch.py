"""Fetching the files a device needs (docs/provisioning.md), with failover.

``caconfig.json`` and ``XMLDefault.cnf.xml`` come over plain HTTP from the
bootstrap port; the device's own file over HTTPS from the config servers in
order, with ``Authorization: Bearer`` (RFC 6750 §2.1): a server that cannot
be reached or answers 5xx makes the device try the next one; a refusal
(401/403/404) is the same everywhere and ends the attempt with what the
server said. A refusal for a revoked token is :class:`GrantRevoked`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

from ._config import ConfigError, ConfigServer, DeviceFile, parse_device_file
from ._errors import GrantRevoked, SimFailure
from ._http import HttpClient, HttpError, HttpResponse

__all__ = ["download_config", "fetch_bootstrap"]


def _detail(response: HttpResponse) -> str:
    body = response.json()
    detail = body.get("detail") or body.get("error_description") or body.get("error")
    return detail if isinstance(detail, str) else ""


async def fetch_bootstrap(http: HttpClient, base: str, name: str) -> bytes:
    """``base``/``name`` over plain HTTP; ConfigError unless 200."""
    url = f"{base}/{name}"
    try:
        response = await http.get(url)
    except HttpError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if response.status != 200:
        detail = _detail(response)
        raise ConfigError(f"{url}: HTTP {response.status}" + (f" ({detail})" if detail else ""))
    return response.body


async def download_config(
    http: HttpClient,
    servers: Sequence[ConfigServer],
    device: str,
    token: str,
    context: ssl.SSLContext,
    *,
    attempts: int = 1,
    retry_delay: float = 5.0,
) -> tuple[DeviceFile, str]:
    """``<device>.cnf.xml`` from the first config server that serves it; the
    parsed file and the server (``host:port``) it came from.

    A 403 or 404 is asked again up to ``attempts`` times, ``retry_delay``
    seconds apart, as a phone retries its download: a node learns of a device
    just added (or set up for MRA) from a change notification, a moment later.
    """
    for _ in range(attempts - 1):
        try:
            return await _download(http, servers, device, token, context)
        except _NotYet:
            await asyncio.sleep(retry_delay)
    try:
        return await _download(http, servers, device, token, context)
    except _NotYet as exc:
        raise SimFailure("config", str(exc)) from None


class _NotYet(Exception):
    """403 / 404: perhaps the node has not heard of the device yet."""


async def _download(
    http: HttpClient,
    servers: Sequence[ConfigServer],
    device: str,
    token: str,
    context: ssl.SSLContext,
) -> tuple[DeviceFile, str]:
    problems: list[str] = []
    name = f"{device}.cnf.xml"
    for server in servers:
        url = f"{server.base}/{name}"
        try:
            response = await http.get(
                url, context=context, headers=[("Authorization", f"Bearer {token}")]
            )
        except HttpError as exc:
            problems.append(str(exc))
            continue
        if response.status >= 500:
            problems.append(f"{server.address}: HTTP {response.status}")
            continue
        if response.status != 200:
            detail = _detail(response)
            text = f"{name} from {server.address}: HTTP {response.status}" + (
                f" ({detail})" if detail else ""
            )
            if response.status == 401 and "revoked" in detail:
                raise GrantRevoked(text)
            if response.status in (403, 404):
                raise _NotYet(text)
            raise SimFailure("config", text)
        try:
            parsed = parse_device_file(response.body, name)
        except ConfigError as exc:
            raise SimFailure("config", str(exc)) from None
        if parsed.name.upper() != device.upper():
            raise SimFailure("config", f"{name} from {server.address} names {parsed.name}")
        if not parsed.lines:
            raise SimFailure("config", f"{name} lists no line to register")
        return parsed, server.address
    if not servers:
        raise SimFailure("config", "no config server is known")
    raise SimFailure("config", f"{name}: no config server answered: " + "; ".join(problems))
