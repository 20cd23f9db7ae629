"""The RFC 4475 torture messages shipped in tests/sip/data/rfc4475."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data" / "rfc4475"


@dataclass(frozen=True)
class Torture:
    """One MANIFEST.tsv row and its message."""

    section: str
    name: str
    cls: str
    what: str

    @property
    def data(self) -> bytes:
        return (DATA / f"{self.name}.sip").read_bytes()


def manifest() -> list[Torture]:
    rows = []
    for line in (DATA / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        section, name, cls, what = line.split("\t")
        rows.append(Torture(section, name, cls, what))
    return rows


def load(name: str) -> bytes:
    return (DATA / f"{name}.sip").read_bytes()


ALL_NAMES = [t.name for t in manifest()]
