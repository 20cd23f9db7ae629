"""Simulators shipped with the product (B3): devices, soft clients, the edge."""

from ._config import ConfigError, EdgeAddress, ServerAddress
from ._deskphone import DeskPhone, DeskPhoneConfig
from ._device import SimDevice
from ._edge import Edge, EdgeListener
from ._edge_config import EdgeConfig, NodeAddress
from ._edge_pki import EdgeFiles, init_edge_dir
from ._edge_web import PushOutcome
from ._errors import GrantRevoked, SimError, SimFailure
from ._events import DeviceStopped, SimEvent
from ._network import DeviceSettings, SimNetwork
from ._phone import PhoneIdentity, SipTlsClient, register_request
from ._softclient import SoftClient, SoftClientConfig

__all__ = ["PhoneIdentity", "SipTlsClient", "register_request"]
__all__ += [
    "ConfigError",
    "DeskPhone",
    "DeskPhoneConfig",
    "DeviceSettings",
    "DeviceStopped",
    "EdgeAddress",
    "GrantRevoked",
    "ServerAddress",
    "SimDevice",
    "SimError",
    "SimEvent",
    "SimFailure",
    "SimNetwork",
    "SoftClient",
    "SoftClientConfig",
]
__all__ += [
    "Edge",
    "EdgeConfig",
    "EdgeFiles",
    "EdgeListener",
    "NodeAddress",
    "PushOutcome",
    "init_edge_dir",
]
