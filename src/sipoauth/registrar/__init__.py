"""Sans-IO SIP registrar with the SIP OAuth bearer-token check (RFC 3261 §10.3, RFC 8898)."""

from ._bearer import PresentedToken, challenge, find_bearer
from ._bindings import Binding, BindingChange, BindingKey, BindingTable
from ._connection import ConnectionOutput, SipConnection
from ._core import CoreResult, SipCore
from ._directory import DeviceInfo, Directory, DirectorySnapshot
from ._registrar import Flow, RegisterOutcome, Registrar
from ._settings import ChallengeStyle, RegistrarSettings

__all__ = [
    "Binding",
    "BindingChange",
    "BindingKey",
    "BindingTable",
    "ChallengeStyle",
    "ConnectionOutput",
    "CoreResult",
    "DeviceInfo",
    "Directory",
    "DirectorySnapshot",
    "Flow",
    "PresentedToken",
    "RegisterOutcome",
    "Registrar",
    "RegistrarSettings",
    "SipConnection",
    "SipCore",
    "challenge",
    "find_bearer",
]
