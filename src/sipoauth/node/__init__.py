"""The asyncio node process: listeners, services, write-behind of bindings."""

from ._bootstrap import ADMIN_USER, InitReport, initialise, read_password_file
from ._config import DEFAULT_DATA_DIR, NodeConfig, default_hostname
from ._flows import FlowTable
from ._keys import TokenContext, load_keyring, token_context
from ._node import Node
from ._services import Listener, Service, ServiceError
from ._web import HttpListener

__all__ = [
    "ADMIN_USER",
    "DEFAULT_DATA_DIR",
    "FlowTable",
    "HttpListener",
    "InitReport",
    "Listener",
    "Node",
    "NodeConfig",
    "Service",
    "ServiceError",
    "TokenContext",
    "default_hostname",
    "initialise",
    "load_keyring",
    "read_password_file",
    "token_context",
]
