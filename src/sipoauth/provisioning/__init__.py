"""Device configuration files and the TFTP service's web apps (R10).

``_documents`` writes `<DEVICE>.cnf.xml` and `XMLDefault.cnf.xml`
(schema: ``schema/device-config.xsd``), ``_caconfig`` the phone-edge-trust
bundle, ``_access`` decides who may read a device's file, ``_catalog`` keeps the
rendered files in memory, and ``_app`` serves them on HTTP 6970 (bootstrap
only) and HTTPS 6971 (token-gated). The node runs them as its Cisco TFTP service.
"""

from ._access import Decision, decide
from ._app import ConfigApp
from ._caconfig import BUNDLE_MAX, CaBundle, TrustedCertificate, build_bundle
from ._catalog import DEFAULT_GROUP, ConfigCatalog, Rendered
from ._documents import (
    FORMAT_VERSION,
    CallManager,
    DefaultDocument,
    DeviceDocument,
    EdgeAddress,
    Line,
    MraSettings,
    OAuthSettings,
    TrustSummary,
    Variant,
    render_default,
    render_device,
)

__all__ = [
    "BUNDLE_MAX",
    "DEFAULT_GROUP",
    "FORMAT_VERSION",
    "CaBundle",
    "CallManager",
    "ConfigApp",
    "ConfigCatalog",
    "Decision",
    "DefaultDocument",
    "DeviceDocument",
    "EdgeAddress",
    "Line",
    "MraSettings",
    "OAuthSettings",
    "Rendered",
    "TrustSummary",
    "TrustedCertificate",
    "Variant",
    "build_bundle",
    "decide",
    "render_default",
    "render_device",
]
