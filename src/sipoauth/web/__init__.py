"""sipoauth.web: the web service's ASGI application (OAuth endpoints, the REST
API at ``/api/v1``, later the admin pages). Sockets and TLS are the node's
(``node/_web.py``)."""

from ._api import API_PREFIX, build_api
from ._api_base import ApiContext, ApiSettings
from ._app import build_web_app
from ._oauth import AdminCheck, peer_of

__all__ = [
    "API_PREFIX",
    "AdminCheck",
    "ApiContext",
    "ApiSettings",
    "build_api",
    "build_web_app",
    "peer_of",
]
