"""sipoauth.web: the web service's ASGI application (OAuth endpoints, later the
REST API and admin pages). Sockets and TLS are the node's (``node/_web.py``)."""

from ._app import build_web_app
from ._oauth import AdminCheck, peer_of

__all__ = ["AdminCheck", "build_web_app", "peer_of"]
