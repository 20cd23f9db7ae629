"""Crash-safe file writes for keys and certificates.

A file is written to a temporary name in the same directory (created 0600 by
``mkstemp``, so a secret is never readable by others even briefly), flushed
and fsynced, then renamed over the target (atomic on POSIX) and the directory
is fsynced. A crash leaves either the old file, the new file, or a stray
``.*.tmp`` — never half a key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final

__all__ = ["PRIVATE_MODE", "PUBLIC_MODE", "write_atomic"]

PRIVATE_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` atomically, with permission bits ``mode``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable; not every platform/filesystem allows it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
