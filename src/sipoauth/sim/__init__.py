"""Simulators shipped with the product (B3): devices, soft clients, the edge."""

from ._config import ConfigError, EdgeAddress, ServerAddress
from ._deskphone import DeskPhone, DeskPhoneConfig
from ._device import DeviceSettings, SimDevice, SimNetwork
from ._errors import GrantRevoked, SimError, SimFailure
from ._events import DeviceStopped, SimEvent
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
