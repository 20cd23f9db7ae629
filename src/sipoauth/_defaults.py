"""Defaults every entry point shares, in a module that imports nothing heavy.

The command line reads these while it is being built, for every command
including `sipoauth --help`; keeping them out of `sipoauth.node` (which
imports the web application, the database and the PKI) keeps that cheap.
`sipoauth.node` re-exports them.
"""

from __future__ import annotations

import socket

DEFAULT_DATA_DIR = "./var"
"""Where a node keeps its keys, certificates and embedded database by default."""

PKI_DIR = "pki"
"""The node's CA, web certificate and trust stores, inside its data directory."""


def default_hostname() -> str:
    """This machine's host name, lowercased (the web certificate names it)."""
    return socket.gethostname().lower() or "localhost"
