"""Administration rules: each rule once, called by the CLI, the REST API and the pages."""

from ._devices import (
    DEFAULT_PROFILE,
    OAUTH_DESK_MODELS,
    OAUTH_PROFILE,
    SOFT_CLIENT_TYPES,
    add_device,
    check_profile,
    delete_device,
    device_type_of,
    ensure_default_profiles,
    oauth_capable,
)
from ._edges import add_edge, delete_edge
from ._errors import AdminError, Conflict, InvalidValue, NotFound, NotPublisher
from ._mode import (
    CHALLENGE_STYLES,
    challenge_style,
    set_challenge_style,
    set_sip_oauth_mode,
    sip_oauth_mode,
)

__all__ = [
    "CHALLENGE_STYLES",
    "DEFAULT_PROFILE",
    "OAUTH_DESK_MODELS",
    "OAUTH_PROFILE",
    "SOFT_CLIENT_TYPES",
    "AdminError",
    "Conflict",
    "InvalidValue",
    "NotFound",
    "NotPublisher",
    "add_device",
    "add_edge",
    "challenge_style",
    "check_profile",
    "delete_device",
    "delete_edge",
    "device_type_of",
    "ensure_default_profiles",
    "oauth_capable",
    "set_challenge_style",
    "set_sip_oauth_mode",
    "sip_oauth_mode",
]
