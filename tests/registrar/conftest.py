"""Fixtures for the sans-IO registrar tests (helpers live in _support)."""

from ._support import directory, keys, mint, other_keys, registrar, req, settings

__all__ = ["directory", "keys", "mint", "other_keys", "registrar", "req", "settings"]
