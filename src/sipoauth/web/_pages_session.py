"""Server-side sessions of the admin pages.

Theory of operation
-------------------
Signing in creates a :class:`Session`: an opaque random id (256 bits) sent to
the browser in the cookie ``__Host-sipoauth-admin`` (Secure, HttpOnly,
SameSite=Strict, Path=/; the ``__Host-`` prefix keeps any other origin from
setting it), and kept here only as its SHA-256, so a memory dump holds no usable
id. A session ends when it has been idle for ``idle_timeout`` seconds, when it
is ``absolute_timeout`` old whatever its use (OWASP session management), at
sign-out, or when the node's web service (Cisco Tomcat) restarts: sessions
live in the memory of the web app of one node, as on the reference system,
where restarting Tomcat signs every administrator out.

Each session holds a synchronizer token for CSRF (every state-changing form
posts it back; ``_pages_base`` compares it in constant time) and the flash
messages of the Post/Redirect/Get pattern. Clocks are parameters.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = ["SESSION_COOKIE", "Flash", "PageSettings", "Session", "SessionStore"]

SESSION_COOKIE: Final = "__Host-sipoauth-admin"
"""The session cookie (the ``__Host-`` prefix: Secure, Path=/, no Domain)."""

FlashKind = Literal["success", "error", "info"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PageSettings:
    """Limits of the admin pages, with safe defaults (STYLE rule 7)."""

    idle_timeout: float = 30 * 60.0
    """Seconds without a request after which a session ends."""
    absolute_timeout: float = 8 * 3600.0
    """Seconds after sign-in at which a session ends, however busy."""
    max_sessions: int = 1000
    """Sessions kept at most on one node (the oldest go first)."""
    max_form_bytes: int = 64 * 1024
    """Largest form body of an ordinary page."""
    max_upload_bytes: int = 1024 * 1024
    """Largest form body of an upload (certificates)."""
    page_sizes: tuple[int, ...] = (25, 50, 100, 250)
    """Rows per page a find-and-list page offers; the first is the default."""


@dataclass(frozen=True, slots=True)
class Flash:
    """A message shown once, on the next page."""

    kind: FlashKind
    text: str


@dataclass(slots=True, kw_only=True)
class Session:
    """A signed-in administrator."""

    username: str
    csrf_token: str = field(repr=False)
    """The synchronizer token every state-changing form must carry."""
    created: float
    last_seen: float
    flashes: list[Flash] = field(default_factory=list)
    secret: tuple[str, str] | None = field(default=None, repr=False)
    """``(object, text)``: a secret to show once, on the next page of that
    object only (a new activation code and the phone it is for)."""

    def flash(self, kind: FlashKind, text: str) -> None:
        """Show ``text`` on the next page."""
        self.flashes.append(Flash(kind, text))

    def take_flashes(self) -> list[Flash]:
        """The messages to show now (they are shown once)."""
        out, self.flashes = self.flashes, []
        return out


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    """The sessions of one node's admin pages, in memory (module docstring)."""

    def __init__(self, settings: PageSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, username: str) -> tuple[str, Session]:
        """A new session for ``username``: its id (for the cookie only) and itself."""
        self._purge()
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        session = Session(
            username=username, csrf_token=secrets.token_urlsafe(32), created=now, last_seen=now
        )
        self._sessions[_digest(session_id)] = session
        while len(self._sessions) > self._settings.max_sessions:
            self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id, its idle time reset; None (and the
        session forgotten) when there is none or it expired."""
        if not session_id:
            return None
        key = _digest(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.last_seen = now
        return session

    def delete(self, session_id: str | None) -> None:
        """End the session of that id (sign-out)."""
        if session_id:
            self._sessions.pop(_digest(session_id), None)

    def delete_user(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        keys = [k for k, s in self._sessions.items() if s.username == username]
        for key in keys:
            del self._sessions[key]
        return len(keys)

    def _expired(self, session: Session, now: float) -> bool:
        return (
            now - session.last_seen >= self._settings.idle_timeout
            or now - session.created >= self._settings.absolute_timeout
        )

    def _purge(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]
