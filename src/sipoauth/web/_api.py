"""The REST API application (``/api/v1``, OpenAPI at ``/api/v1/openapi.json``).

``build_api`` assembles the routers of each object (``_api_*.py``), the
authentication middleware (``_api_auth``), the error handlers
(``_api_errors``) and the body limits: ``max_body_bytes`` for every route,
``max_upload_bytes`` for certificate uploads and the CSV import. Operation
ids are the route functions' names, fixed in each decorator, so clients
generated from the document keep working across releases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Depends, FastAPI, Request

from sipoauth.oauth import Throttle

from . import (
    _api_activation,
    _api_certificates,
    _api_cluster,
    _api_devices,
    _api_edges,
    _api_groups,
    _api_logs,
    _api_parameters,
    _api_profiles,
    _api_services,
    _api_users,
)
from ._api_auth import AdminAuthenticator, AuthMiddleware
from ._api_auth import router as auth_router
from ._api_base import ApiContext, ApiError, current_admin
from ._api_errors import ERROR_RESPONSES, exception_handlers
from ._api_limits import BodyLimit
from ._oauth import AdminCheck

__all__ = ["API_PREFIX", "build_api"]

API_PREFIX: Final = "/api/v1"
"""Where the node's web app mounts the API."""
API_VERSION: Final = "1.0.0"
_DESCRIPTION: Final = """\
Administration of a sipoauth cluster: every object of the SIP OAuth task flow
(parameters, servers, licensing and the mode, certificates, edges, MRA service
domains, security profiles, CallManager groups, devices, end users, activation
codes, keys, registrations, the audit log).

Authenticate every call with HTTP Basic (an administrator) or with an admin
bearer token from `POST /auth/tokens`. Errors are JSON
`{"error": …, "message": …, "field": …}`; see docs/api.md.
"""

_TAGS: Final = [
    {"name": name, "description": description}
    for name, description in (
        ("auth", "Admin bearer tokens."),
        ("parameters", "Enterprise and service parameters."),
        ("servers", "Servers (nodes) of the cluster and their ports (R5)."),
        ("license", "Smart licensing, export-controlled functionality (R2.2)."),
        ("sip-oauth-mode", "The cluster-wide SIP OAuth mode (R7, R8)."),
        ("certificates", "Certificate stores: tomcat identity and trust stores (R3, R5)."),
        ("edges", "Edge (Expressway-C) entries (R6) and their certificate push."),
        ("mra-domains", "MRA service domains."),
        ("profiles", "Phone security profiles (R9)."),
        (
            "callmanager-groups",
            "CallManager groups: the servers a device registers to, in order (failover).",
        ),
        ("devices", "Phones and soft clients (R1, R12.1), CSV import."),
        ("activation-codes", "Activation codes of desk phones (R12.1)."),
        ("users", "End users."),
        ("keys", "The cluster's authz keys."),
        ("registrations", "Who is registered where."),
        ("audit", "The audit log of every change."),
        ("services", "Service control (R8): status, start, stop, restart; open ports."),
    )
]


def _plain_parameters(request: Request) -> None:
    """A NUL character in a path or query parameter is refused (it cannot be
    stored or compared in PostgreSQL text)."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if isinstance(value, str) and "\x00" in value:
            raise ApiError(
                422, "invalid_value", f"{name}: NUL characters are not allowed", field=name
            )


_ADMIN_ROUTERS: Final[tuple[APIRouter, ...]] = (
    auth_router,
    _api_parameters.parameters_router,
    _api_cluster.servers_router,
    _api_cluster.license_router,
    _api_cluster.mode_router,
    _api_edges.router,
    _api_edges.mra_router,
    _api_profiles.router,
    _api_groups.router,
    _api_devices.router,
    _api_activation.router,
    _api_users.router,
    _api_parameters.keys_router,
    _api_logs.registrations_router,
    _api_logs.audit_router,
    _api_services.router,
)
_UPLOAD_ROUTERS: Final[tuple[APIRouter, ...]] = (
    _api_certificates.router,
    _api_activation.import_router,
)


def build_api(
    context: ApiContext, admin_check: AdminCheck, throttle: Callable[[], Throttle]
) -> FastAPI:
    """The API app for one node (mount it at :data:`API_PREFIX`)."""
    settings = context.settings
    app = FastAPI(
        title="sipoauth administration API",
        version=API_VERSION,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        openapi_tags=_TAGS,
        exception_handlers=exception_handlers(),
        dependencies=[Depends(_plain_parameters)],
        generate_unique_id_function=lambda route: route.name,
        responses=ERROR_RESPONSES,
    )
    authenticator = AdminAuthenticator(context, admin_check, throttle)
    app.state.sipoauth = context
    app.state.sipoauth_authenticator = authenticator
    admin_only: list[Any] = [Depends(current_admin)]
    # The edge's push first: "/edges/push" must not be taken for an edge's address.
    app.include_router(_api_edges.push_router)
    for router in (*_ADMIN_ROUTERS, *_UPLOAD_ROUTERS):
        app.include_router(router, dependencies=admin_only)
    # The last added runs first: authentication, then the body limits.
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        # included without a prefix: the routers' own routes match the app's paths
        upload_routes=[route for router in _UPLOAD_ROUTERS for route in router.routes],
    )
    app.add_middleware(AuthMiddleware, authenticator=authenticator)
    return app
