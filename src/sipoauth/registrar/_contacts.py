"""What the registrar reads from a Contact and a To (RFC 3261 §10.3 steps 5 and 7).

``contact_facts`` and ``address_of_record`` are pure functions of a parsed
value, remembered on it (``derived``): the connection's parse cache hands the
same parsed Contact and To to every re-REGISTER that repeats them, so the work
is done once per connection. ``bound_key`` finds the binding a Contact refreshes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from sipoauth.sip import AbsoluteUri, Contact, NameAddr, SipError, SipUri, parse_uri

from ._bindings import Binding

DEVICE_NAME_PARAM = "+u.sip!devicename.ccm.cisco.com"
INSTANCE_PARAM = "+sip.instance"


class ContactFacts(NamedTuple):
    """What the registrar reads from one Contact (not `*`)."""

    device: str | None
    """The `+u.sip!devicename.ccm.cisco.com` parameter, unquoted."""
    instance: str
    """The `+sip.instance` parameter, unquoted, else the URI: the binding's key."""
    text: str
    """The Contact as a 200 lists it (without `expires`)."""
    expires: int | None
    """The `expires` parameter."""
    uri: SipUri | AbsoluteUri | None
    """The Contact URI when it is the key (no `+sip.instance`): matched to the
    bindings by the RFC 3261 §19.1.4 comparison, not by its text."""


def contact_facts(contact: Contact) -> ContactFacts:
    # A pure function of the Contact: remembered on it (Contact.derived).
    instance = contact.param_unquoted(INSTANCE_PARAM)
    return ContactFacts(
        contact.param_unquoted(DEVICE_NAME_PARAM),
        instance or str(contact.uri),
        _contact_text(contact),
        contact.expires,
        None if instance else contact.uri,
    )


def bound_key(current: Mapping[str, Binding], facts: ContactFacts) -> str:
    """The key of the binding `facts` refreshes: RFC 3261 §10.3 step 7 searches the
    bindings "using the URI comparison rules" (§19.1.4), so a Contact without
    `+sip.instance` is the binding whose URI compares equal (parameters in another
    order, a transport in another case), not only the one spelled the same."""
    key = facts.instance
    uri = facts.uri
    if uri is None or key in current:
        return key
    for other in current:
        if other.startswith(("sip:", "sips:")):
            try:
                if parse_uri(other).equivalent(uri):
                    return other
            except SipError:
                continue
    return key


def address_of_record(to: NameAddr) -> tuple[str, str, str]:
    """(line, host, canonical AOR) of a To; 400 when it is not a SIP URI (RFC 4475 §3.3.4)."""
    uri = to.sip_uri
    return uri.user or "", uri.host, uri.aor()


def _contact_text(contact: Contact) -> str:
    """The Contact to list in a 200: the URI in <> and its parameters but `expires`."""
    params = "".join(
        f";{name}" if value is None else f";{name}={value}"
        for name, value in contact.params.items()
        if name != "expires"
    )
    return f"<{contact.uri}>{params}"
