"""Every package imports on its own, in a fresh interpreter, whatever is imported first.

``sipoauth.admin`` and ``sipoauth.oauth`` use each other (admin regenerates the
keys oauth defines; the authorization server checks passwords and activation
codes with admin's rules); this guards the import order against a cycle.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGES = [
    "sipoauth.admin",
    "sipoauth.cli",
    "sipoauth.node",
    "sipoauth.oauth",
    "sipoauth.oauth._service",
    "sipoauth.admin._keys",
    "sipoauth.admin._activation",
    "sipoauth.pki",
    "sipoauth.registrar",
    "sipoauth.sip",
    "sipoauth.sim",
    "sipoauth.store",
    "sipoauth.web",
]


@pytest.mark.parametrize("module", PACKAGES)
def test_imports_first(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
