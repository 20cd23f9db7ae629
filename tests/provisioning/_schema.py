"""Validation of generated files against the published schema (issue 5 point 3)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree


@cache
def schema() -> etree.XMLSchema:
    path = resources.files("sipoauth.provisioning") / "schema" / "device-config.xsd"
    return etree.XMLSchema(etree.fromstring(path.read_bytes()))


def validate(body: bytes) -> etree._Element:
    """Parse ``body`` and validate it; AssertionError naming every violation."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(body, parser)
    checker = schema()
    if not checker.validate(root):
        raise AssertionError("\n".join(str(e) for e in checker.error_log))
    return root
