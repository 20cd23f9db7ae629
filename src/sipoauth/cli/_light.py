"""What the command line needs while it is built, without the packages that cost.

Typer builds the whole command tree, help texts, defaults and annotations
included, before it runs any command, even for `sipoauth --help`. Importing
`sipoauth.admin` (database, PKI, Authlib) takes ~0.8 s and `sipoauth.node`
(the web application, uvicorn) ~1.4 s, so the modules of this package import
them inside the commands that use them, and take from here what the tree shows.

The constants are copies of the rules' own (named beside each); the test
`tests/cli/test_imports_light.py` checks they are equal, so they cannot drift.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Final, Literal

DEFAULT_GROUP: Final = "Default"
"""`sipoauth.admin.DEFAULT_GROUP`: every server of the cluster, the publisher first."""
DEFAULT_PROFILE: Final = "Universal Device Template - Model-independent Security Profile"
"""`sipoauth.admin.DEFAULT_PROFILE`: the security profile of a device given none."""
PORT_FIELDS: Final[Mapping[str, str]] = {
    "sip_port": "SIP Phone Port",
    "secure_sip_port": "SIP Phone Secure Port",
    "oauth_port": "SIP Phone OAuth Port",
    "mra_port": "SIP Mobile and Remote Access Port",
    "web_port": "HTTPS Port",
    "tftp_port": "TFTP HTTP Port",
    "tftp_secure_port": "TFTP HTTPS Port",
}
"""`sipoauth.admin.PORT_FIELDS`: a server's ports and their names on the pages."""
KeyKind = Literal["signing", "encryption"]
"""`sipoauth.admin.KeyKind`: the two authz keys, as the reference command line names them."""
LogLevel = Literal["debug", "info", "warning", "error"]
"""`sipoauth.node._logging.LogLevel`: the levels `serve` and `edge serve` take."""


class LazyModule(ModuleType):
    """A module imported at the first use of one of its attributes.

    `admin = LazyModule("sipoauth.admin")` reads like the module (under
    `TYPE_CHECKING` the real import gives mypy its types) and costs nothing
    until a command calls a rule.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


admin = LazyModule("sipoauth.admin")
"""`sipoauth.admin`, imported when a command first uses it."""
