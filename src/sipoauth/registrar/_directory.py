"""What the registrar needs to know about devices, lines and grants.

The registrar never queries a database on the SIP hot path: the node keeps a
`Directory` snapshot in memory, refreshed when the store announces a change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as the registrar sees it."""

    name: str
    """Device name: `SEP<MAC>` for desk phones, `CSF…`/`BOT…`/`TCT…`/`TAB…` for soft clients."""
    lines: tuple[str, ...]
    """Directory numbers on the device, in button order (To user of a REGISTER)."""
    oauth: bool
    """The device's security profile enables OAuth (R9: Encrypted + TLS + OAuth)."""
    owner: str | None = None
    """End user owning the device; soft-client tokens are issued to this user."""
    _soft: bool = field(init=False, repr=False, compare=False)
    # is_soft_client, worked out once: the registrar asks on every REGISTER.

    def __post_init__(self) -> None:
        object.__setattr__(self, "_soft", self.name[:3].upper() in _SOFT_PREFIXES)

    @property
    def is_soft_client(self) -> bool:
        """A soft client (R1.1 CSF/BOT/TCT/TAB), from its name: its tokens name
        its owner; a desk phone's tokens name the phone itself."""
        return self._soft

    def accepts_client(self, client_id: str) -> bool:
        """Whether a token obtained by ``client_id`` may register this device: a
        desk phone never takes a token a user got by signing in (a soft-client or
        third-party client), a soft client never the desk-phone client's. Checked
        beside :attr:`token_subject`, so a user named like a phone (however that
        user reached the directory) still cannot register the phone."""
        if self._soft:
            return client_id != DESK_PHONE_CLIENT
        return client_id not in USER_CLIENTS

    @property
    def token_subject(self) -> str | None:
        """The ``sub`` a token must carry to register this device: the owner of
        a soft client, the name of a desk phone — never the other way round, so
        a user's soft-client token cannot register that user's desk phone."""
        return self.owner if self._soft else self.name


_SOFT_PREFIXES = frozenset({"CSF", "BOT", "TCT", "TAB"})
DESK_PHONE_CLIENT = "sipoauth-desk-phone"
"""The desk phones' OAuth client (``sipoauth.oauth`` registers it)."""
USER_CLIENTS = frozenset(
    {"sipoauth-csf", "sipoauth-bot", "sipoauth-tct", "sipoauth-tab", "sipoauth-third-party"}
)
"""The clients users sign in with (``sipoauth.oauth`` registers them)."""


class Directory(Protocol):
    """Read-only view of configuration the registrar consults (all O(1))."""

    @property
    def oauth_mode(self) -> bool:
        """Cluster-wide SIP OAuth mode flag (R7: `utils sipOAuth-mode enable`)."""
        ...

    def device(self, name: str) -> DeviceInfo | None:
        """The device called `name`, or None."""
        ...

    def line_known(self, dn: str) -> bool:
        """Whether any device carries directory number `dn`."""
        ...

    def grant_revoked(self, sid: str) -> bool:
        """Whether the grant (token `sid`) has been revoked."""
        ...

    def devices_of(self, owner: str) -> tuple[DeviceInfo, ...]:
        """The devices owned by end user `owner` (a soft client's token names its owner)."""
        ...


@dataclass(slots=True)
class DirectorySnapshot:
    """An in-memory `Directory`, rebuilt from the store when it changes."""

    oauth_mode: bool = False
    devices: dict[str, DeviceInfo] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    _lines: set[str] = field(default_factory=set)
    _owned: dict[str, tuple[DeviceInfo, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, *, oauth_mode: bool, devices: Iterable[DeviceInfo], revoked: Iterable[str] = ()
    ) -> DirectorySnapshot:
        """A snapshot of these devices and revoked grants."""
        snap = cls(oauth_mode=oauth_mode, revoked=set(revoked))
        for dev in devices:
            snap.put(dev)
        return snap

    def put(self, dev: DeviceInfo) -> None:
        """Add or replace one device."""
        old = self.devices.get(dev.name)
        if old is not None and old.owner is not None:
            kept = tuple(d for d in self._owned.get(old.owner, ()) if d.name != dev.name)
            if kept:
                self._owned[old.owner] = kept
            else:
                self._owned.pop(old.owner, None)
        self.devices[dev.name] = dev
        self._lines.update(dev.lines)
        if dev.owner is not None:
            self._owned[dev.owner] = (*self._owned.get(dev.owner, ()), dev)

    def device(self, name: str) -> DeviceInfo | None:
        return self.devices.get(name)

    def line_known(self, dn: str) -> bool:
        return dn in self._lines

    def grant_revoked(self, sid: str) -> bool:
        return sid in self.revoked

    def devices_of(self, owner: str) -> tuple[DeviceInfo, ...]:
        return self._owned.get(owner, ())
