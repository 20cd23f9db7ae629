"""UAS request inspection, RFC 3261 §8.2.1-§8.2.3, sans-IO.

``inspect_request`` runs after ``parse_message`` + ``validate()`` and before
any method-specific processing (the registrar's RFC 3261 §10.3 steps). It
returns the bytes of the response that ends the request, or ``None`` to go
on. The checks run in the order of §8.2: method, Request-URI scheme,
extensions (Require), content (Content-Type / Content-Encoding / Accept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from ._build import build_response
from ._message import Request
from ._uri import SipUri

__all__ = ["inspect_request"]

_SDP: Final = "application/sdp"


def _accepts(ranges: Iterable[str], media_type: str) -> bool:
    # media-range = ( "*/*" / ( m-type SLASH "*" ) / ( m-type SLASH m-subtype ) )
    main = media_type.split("/", 1)[0]
    return any(r == "*/*" or r == media_type or r == f"{main}/*" for r in ranges)


def _tag(to_tag: str | Callable[[], str] | None) -> str | None:
    return to_tag() if callable(to_tag) else to_tag


def inspect_request(
    request: Request,
    *,
    allowed_methods: frozenset[str],
    known_methods: frozenset[str],
    supported_options: frozenset[str],
    accepted_body_types: Mapping[str, frozenset[str]],
    to_tag: str | Callable[[], str] | None = None,
) -> bytes | None:
    """Apply RFC 3261 §8.2.1-§8.2.3 to a validated request.

    * §8.2.1: a method not in ``known_methods`` -> 501; known but not in
      ``allowed_methods`` -> 405 with ``Allow``.
    * §8.2.2.1: a Request-URI scheme other than sip/sips -> 416. (The To
      URI is not checked here: RFC 4475 §3.3.4 leaves a non-SIP To in a
      REGISTER to the registrar, which answers 400.)
    * §8.2.2.3: Require tags not in ``supported_options`` (lowercased) ->
      420 with ``Unsupported`` listing them as sent. Proxy-Require is for
      proxies and ignored here; CANCEL is never rejected this way.
    * §8.2.3: a body whose Content-Type is not in
      ``accepted_body_types[method]`` -> 415 with ``Accept``; a Content-Encoding
      other than identity -> 415 with ``Accept-Encoding: identity``; an
      INVITE whose Accept excludes application/sdp -> 406.

    ACK is never answered (RFC 3261 §17): for ACK this returns ``None``.
    ``to_tag`` is added to the response's To (§8.2.6.2); it may be a function
    making one, called only when a response is built (most requests pass).
    """
    method = request.method
    if method == "ACK":
        return None
    if method not in known_methods:
        return build_response(request, 501, to_tag=_tag(to_tag))
    if method not in allowed_methods:
        allow = ", ".join(sorted(allowed_methods))
        return build_response(request, 405, headers=[("Allow", allow)], to_tag=_tag(to_tag))

    if not isinstance(request.request_uri, SipUri):
        return build_response(request, 416, to_tag=_tag(to_tag))

    if method != "CANCEL" and "require" in request.headers:
        request.require  # noqa: B018 - checks the grammar (400 if broken)
        unknown: list[str] = []
        seen: set[str] = set()
        for tag in request.values("require"):
            lowered = tag.lower()
            if lowered not in supported_options and lowered not in seen:
                seen.add(lowered)
                unknown.append(tag)
        if unknown:
            return build_response(
                request, 420, headers=[("Unsupported", ", ".join(unknown))], to_tag=_tag(to_tag)
            )

    if request.body:
        accepted = accepted_body_types.get(method, frozenset())
        accept_header = ("Accept", ", ".join(sorted(accepted)))
        if "content-encoding" in request.headers and any(
            coding != "identity" for coding in request.content_encoding
        ):
            return build_response(
                request,
                415,
                headers=[accept_header, ("Accept-Encoding", "identity")],
                to_tag=_tag(to_tag),
            )
        if request.content_type not in accepted:
            return build_response(request, 415, headers=[accept_header], to_tag=_tag(to_tag))

    if method == "INVITE":
        ranges = request.accept
        if ranges is not None and not _accepts(ranges, _SDP):
            return build_response(request, 406, to_tag=_tag(to_tag))
    return None
