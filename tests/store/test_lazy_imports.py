"""The store's import leaves Alembic out until a migration helper is used.

Every admin command imports the store; Alembic (with its dialect modules) was
about a quarter of such a command's start-up, and only `init`, `serve` and the
schema check use it.
"""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_importing_the_store_does_not_import_alembic() -> None:
    code = "import sys, sipoauth.store; print('alembic' in sys.modules)"
    assert _run(code) == "False"


def test_the_migration_helpers_are_still_exported() -> None:
    code = (
        "import sys, sipoauth.store as s; h = s.head_revision(); "
        "print(type(h).__name__, 'alembic' in sys.modules, callable(s.alembic_config))"
    )
    assert _run(code) == "str True True"


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    code = (
        "import sipoauth.store as s\n"
        "try:\n    s.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    assert "no_such_name" in _run(code)
