"""REGISTER processing, RFC 3261 §10.3, with the SIP OAuth bearer check (RFC 8898).

Theory of operation: `Registrar.register` walks the steps of RFC 3261 §10.3 in
order and returns at the first one that fails:

  0. SIP OAuth prerequisites that need no credentials (R7, R5): the cluster
     mode is on and the request came over the right port for its path —
     direct registrations on the SIP Phone OAuth Port, edge ones (with a Path)
     on the SIP MRA Port. Otherwise 403 + Retry-After + Warning 399.
  1. Request-URI domain (step 1): 404 when this registrar does not serve it.
  2. Require (step 2) is checked earlier, by the UAS core (RFC 3261 §8.2.2.3).
  3. Authentication (step 3): a Bearer token (both forms), verified and not
     revoked — otherwise a challenge (401/407), with `error="invalid_token"`
     when a token was presented.
  4. Authorization (step 4): the token's scope allows registration (403
     insufficient_scope); the device named in the Contact exists and has an
     OAuth profile (403 prerequisite); the token belongs to that device or to
     its owner (403).
  5. Address-of-record from To (step 5): 404 unknown, 403 not a line of the device.
  6. Contact rules (step 6): `*` only alone and with Expires: 0 (400).
  7. Per contact (step 7): expiry from the parameter, the Expires header or the
     server interval; 423 + Min-Expires when too short; Call-ID/CSeq ordering
     (500 on an old CSeq). Changes are staged, then applied all together (step
     8): nothing is applied when a later contact fails.
  8. 200 listing every binding of the AOR with its remaining time, and Date.

Devices are identified by the Contact's `+u.sip!devicename.ccm.cisco.com`
parameter (what deployed clients send) and keyed per `+sip.instance`.
The only clock is the `now` argument.

Cost: what the steps read from a Contact (device, instance, the text a 200
lists) and from the To (line, AOR) is remembered on those parsed values
(`derived`), which the connection's parse cache hands again to every
re-REGISTER repeating them; each step above still runs on every request.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sipoauth.oauth import AccessClaims, AccessTokenVerifier, InvalidToken
from sipoauth.sip import Request, SipError, build_response

from ._bearer import challenge, find_bearer
from ._bindings import BindingChange, BindingKey, BindingTable, new_binding, new_change
from ._contacts import ContactFacts, address_of_record, bound_key, contact_facts
from ._directory import DeviceInfo, Directory
from ._settings import RegistrarSettings

PORT_MISMATCH_WARNING = "SIP OAuth Registration port Mismatch"


@dataclass(frozen=True, slots=True)
class Flow:
    """The connection a request arrived on (RFC 5626 §5.2 "flow")."""

    id: str
    """Unique id of the connection within this node."""
    via_edge: bool = False
    """Arrived on the SIP Mobile and Remote Access Port, over mTLS from a configured edge."""
    edge: str | None = None
    """Address of the edge entry that matched the client certificate."""
    remote: str = ""
    """Peer address, `ip:port`, for logs."""
    transport: str = "tls"
    source: tuple[str, int] | None = None
    """The peer's (IP address, port) as the socket reports it: what the top Via
    of a response records (RFC 3261 §18.2.1 received, RFC 3581 rport)."""


@dataclass(slots=True)
class RegisterOutcome:
    """What one REGISTER produced."""

    status: int
    response: bytes
    changes: list[BindingChange]
    """Binding changes to mirror to the store (empty unless status is 200)."""
    device: str | None = None
    jti: str | None = None
    """The accepted token's id, for logs (never the token itself)."""
    detail: str = ""
    """Why the request was refused, for logs."""


class _Refusal(Exception):
    """Internal: stop processing and answer with this response."""

    def __init__(
        self, status: int, reason: str, headers: Sequence[tuple[str, str]] = (), detail: str = ""
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = tuple(headers)
        self.detail = detail or reason


class _DateCache:
    """RFC 3261 §20.17 Date header text, recomputed at most once per second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._text = email.utils.formatdate(second, usegmt=True)
        return self._text


class _SettingsHeaders:
    """Response headers that depend only on the settings, built once per settings object."""

    __slots__ = ("challenges", "prerequisite", "settings")

    def __init__(self, settings: RegistrarSettings) -> None:
        self.settings = settings
        self.prerequisite = (
            ("Retry-After", str(settings.retry_after)),
            ("Warning", f'399 {settings.host} "{PORT_MISMATCH_WARNING}"'),
        )
        # The challenge to a REGISTER without credentials (RFC 8898 §2.3), per form.
        self.challenges = {proxy: challenge(settings, proxy=proxy) for proxy in (False, True)}


class Registrar:
    """A sans-IO SIP registrar with the SIP OAuth token check."""

    def __init__(
        self,
        settings: RegistrarSettings,
        directory: Directory,
        verifier: AccessTokenVerifier,
        *,
        tag_factory: Callable[[], str],
        table: BindingTable | None = None,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.verifier = verifier
        self.table = table if table is not None else BindingTable()
        self.new_tag = tag_factory
        """A fresh To tag (RFC 3261 §19.3) for any response this node builds."""
        self._date = _DateCache()
        self._headers = _SettingsHeaders(settings)

    # -- public -------------------------------------------------------------------

    def register(self, request: Request, flow: Flow, now: float) -> RegisterOutcome:
        """Process one REGISTER (already parsed, validated and through the UAS checks)."""
        try:
            try:
                return self._register(request, flow, now)
            except SipError as exc:  # a header the registrar reads is malformed
                raise _Refusal(exc.status, exc.reason, exc.headers) from None
        except _Refusal as refusal:
            response = build_response(
                request,
                refusal.status,
                refusal.reason,
                headers=refusal.headers,
                to_tag=self.new_tag(),
            )
            return RegisterOutcome(refusal.status, response, [], detail=refusal.detail)

    def drop_grant(self, sid: str) -> list[BindingChange]:
        """Remove every binding registered with grant `sid` (revocation is immediate)."""
        keys = self.table.keys_for_sid(sid)
        return [BindingChange(key, None) for key in keys if self.table.remove(key) is not None]

    def drop_device(self, device: str) -> list[BindingChange]:
        """Remove every binding of `device` (device deleted, reset or profile changed)."""
        keys = [b.key for b in self.table if b.device == device]
        return [BindingChange(key, None) for key in keys if self.table.remove(key) is not None]

    def expire(self, now: float) -> list[BindingChange]:
        """Remove bindings whose time is up (RFC 3261 §10.3: bindings expire on time)."""
        return [BindingChange(b.key, None) for b in self.table.expire(now)]

    # -- steps ----------------------------------------------------------------------

    def _settings_headers(self) -> _SettingsHeaders:
        headers = self._headers
        if headers.settings is not self.settings:  # the node replaced the settings
            headers = self._headers = _SettingsHeaders(self.settings)
        return headers

    def _prerequisite(self, detail: str) -> _Refusal:
        return _Refusal(403, "Forbidden", self._settings_headers().prerequisite, detail)

    def _register(self, req: Request, flow: Flow, now: float) -> RegisterOutcome:
        s = self.settings
        directory = self.directory

        # Step 0: prerequisites needing no credentials (R7; R5 ports).
        if not directory.oauth_mode:
            raise self._prerequisite("SIP OAuth mode is disabled")
        has_path = "path" in req.headers
        if flow.via_edge and not has_path:
            raise self._prerequisite("direct registration on the SIP MRA port")
        if not flow.via_edge and has_path:
            raise self._prerequisite("edge registration on the SIP Phone OAuth port")

        # Step 1: Request-URI domain.
        ruri = req.request_uri  # sip/sips only: the UAS core answered 416 otherwise
        if s.domains and getattr(ruri, "host", None) not in s.domains:
            raise _Refusal(404, "Domain Not Served")

        # Step 3: authentication.
        presented = find_bearer(req)
        proxy = presented.proxy_form if presented else s.challenge_style == "proxy"
        if presented is None:
            status, reason, header = self._settings_headers().challenges[proxy]
            raise _Refusal(status, reason, (header,), "no bearer credentials")
        try:
            claims = self.verifier.verify(presented.token, now)
        except InvalidToken as exc:
            status, reason, header = challenge(
                s, proxy=proxy, error="invalid_token", description=exc.description
            )
            raise _Refusal(status, reason, (header,), exc.description) from None
        if directory.grant_revoked(claims.sid):
            status, reason, header = challenge(
                s, proxy=proxy, error="invalid_token", description="token revoked"
            )
            raise _Refusal(status, reason, (header,), f"grant revoked (jti {claims.jti})")

        # Step 4: authorization.
        if s.oauth_scope not in claims.scope:
            status, reason, header = challenge(
                s, proxy=proxy, error="insufficient_scope", scope=s.oauth_scope
            )
            raise _Refusal(status, reason, (header,), "token scope does not allow registration")
        facts: list[ContactFacts | None] = []  # per Contact, None for `*`
        for contact in req.contacts:
            facts.append(None if contact.is_star else contact.derived(contact_facts))
        device = self._device(req, facts, claims)
        if device is None:
            raise self._prerequisite("device unknown")
        if not device.oauth:
            raise self._prerequisite(f"device {device.name} has no OAuth security profile")
        if (
            device.token_subject is None
            or claims.subject != device.token_subject
            or not device.accepts_client(claims.client_id)
        ):
            raise _Refusal(403, "Forbidden", (), f"token is not valid for device {device.name}")

        # Step 5: address-of-record from To (400 for a To that is not a SIP URI).
        line, to_host, aor = req.to.derived(address_of_record)
        if s.domains and to_host not in s.domains:
            raise _Refusal(404, "Not Found", (), "To domain not served")
        if line not in device.lines:
            if directory.line_known(line):
                raise _Refusal(403, "Forbidden", (), f"line {line} is not on {device.name}")
            raise _Refusal(404, "Not Found", (), f"no line {line}")

        # Steps 6-8.
        changes = self._update(req, flow, now, aor, device, claims, facts)
        return self._ok(req, now, aor, changes, device, claims)

    def _device(
        self, req: Request, facts: Sequence[ContactFacts | None], claims: AccessClaims
    ) -> DeviceInfo | None:
        """The device named by the Contacts (all must agree).

        A request whose Contacts name none (`*` or a query, RFC 3261 §10.2.2 and
        §10.2.3) comes from: the device of the bindings this grant registered on
        the To's address-of-record; else the token's subject (a desk phone's
        tokens name it); else the one device of the token's user (a soft client's
        tokens name the user) that carries the To's line and takes this client.
        The checks that follow (subject, client, line) apply to it all the same.
        """
        name: str | None = None
        for contact in facts:
            if contact is None:  # `*`
                continue
            named = contact.device
            if named is None:
                continue
            if name is not None and named != name:
                raise _Refusal(400, "Bad Request", (), "Contacts name different devices")
            name = named
        directory = self.directory
        if name is not None:
            return directory.device(name)
        line, _, aor = req.to.derived(address_of_record)
        for binding in self.table.lookup(aor).values():
            if binding.sid == claims.sid:
                return directory.device(binding.device)
        device = directory.device(claims.subject)
        if device is not None:
            return device
        carrying = [
            owned
            for owned in directory.devices_of(claims.subject)
            if line in owned.lines and owned.accepts_client(claims.client_id)
        ]
        return carrying[0] if len(carrying) == 1 else None

    def _update(
        self,
        req: Request,
        flow: Flow,
        now: float,
        aor: str,
        device: DeviceInfo,
        claims: AccessClaims,
        all_facts: Sequence[ContactFacts | None],
    ) -> list[BindingChange]:
        """Steps 6-8, given what each Contact says (`None` for `*`)."""
        s = self.settings
        table = self.table
        call_id = req.call_id
        cseq = req.cseq.seq
        header_expires = req.expires
        current = table.lookup(aor)

        # Step 6: wildcard (RFC 3261 §10.3 step 6).
        if None in all_facts:
            if len(all_facts) != 1 or header_expires != 0:
                raise _Refusal(400, "Bad Request", (), "Contact * needs Expires: 0 and no other")
            removals: list[BindingChange] = []
            for binding in list(current.values()):
                # Only this device's bindings: a shared line's other devices keep theirs.
                if binding.device != device.name:
                    continue
                if binding.call_id == call_id and binding.cseq >= cseq and binding.expires_at > now:
                    raise _Refusal(500, "Server Internal Error", (), "CSeq out of order")
                removals.append(new_change(binding.key, None))
            for change in removals:
                table.remove(change.key)
            return removals

        # Step 7: stage every contact's change before touching the table.
        staged: dict[BindingKey, BindingChange] = {}
        path = tuple(req.get_all("path")) if flow.via_edge else ()
        for facts in all_facts:
            assert facts is not None  # (no `*` here)
            requested = facts.expires if facts.expires is not None else header_expires
            if requested is None:
                requested = s.interval
            instance = bound_key(current, facts)
            key = (aor, instance)
            existing = current.get(instance)
            if existing is not None and existing.expires_at <= now:
                existing = None  # its time is up (the sweep has not run yet): gone
            if existing is not None and existing.call_id == call_id and existing.cseq >= cseq:
                raise _Refusal(500, "Server Internal Error", (), "CSeq out of order")
            if requested == 0:
                if existing is not None:
                    staged[key] = new_change(key, None)
                continue
            if requested < s.min_expires:
                raise _Refusal(423, "Interval Too Brief", (("Min-Expires", str(s.min_expires)),))
            granted = min(requested, s.interval)
            binding = new_binding(
                aor,
                instance,
                facts.text,
                device.name,
                now + granted,
                call_id,
                cseq,
                flow.id,
                path,
                claims.sid,
                flow.via_edge,
            )
            staged[key] = new_change(key, binding)

        after = len(current)
        for change in staged.values():
            after += (change.binding is not None) - (change.key[1] in current)
        if after > s.max_bindings_per_aor:
            raise _Refusal(403, "Too Many Bindings", (), f"more than {s.max_bindings_per_aor}")

        # Step 8: apply all of them (nothing above has modified the table).
        changes = list(staged.values())
        for change in changes:
            if change.binding is None:
                table.remove(change.key)
            else:
                table.put(change.binding)
        return changes

    def _ok(
        self,
        req: Request,
        now: float,
        aor: str,
        changes: list[BindingChange],
        device: DeviceInfo,
        claims: AccessClaims,
    ) -> RegisterOutcome:
        # Step 8: every current binding. One whose time is up is gone even before the
        # sweep removes it; one with under half a second left is listed as 1, since
        # expires=0 would tell the UA it was removed.
        headers = [
            ("Contact", f"{binding.contact};expires={max(1, round(binding.expires_at - now))}")
            for binding in self.table.lookup(aor).values()
            if binding.expires_at > now
        ]
        for change in changes:
            added = change.binding
            if added is not None:
                headers.append(("Expires", str(round(added.expires_at - now))))
                break
        # RFC 3327 §5.3: echo Path when the UA said it supports it.
        if "path" in req.supported:
            headers.extend(("Path", value) for value in req.get_all("path"))
        headers.append(("Date", self._date(now)))
        response = build_response(req, 200, "OK", headers=headers, to_tag=self.new_tag())
        return RegisterOutcome(200, response, changes, device.name, claims.jti)
