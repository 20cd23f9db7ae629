"""MRA service domains (issue 4 point 7, Device > MRA Service Domain).

A name (1-128 characters), the DNS names of the service, and a default flag
(at most one default: making one the default clears the others). A phone
allowed to activate through the edge names one as its "Activation Code MRA
Service Domain" (R12.1); a domain a phone names cannot be deleted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from sipoauth.store import AlreadyExists, JsonValue, MraDomain, MraDomainRecord, Store
from sipoauth.store import NotFound as StoreNotFound

from ._audit import audit
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "MRA_DOMAINS_MAX",
    "MRA_NAME_MAX_LENGTH",
    "add_mra_domain",
    "delete_mra_domain",
    "get_mra_domain",
    "list_mra_domains",
    "update_mra_domain",
]

MRA_NAME_MAX_LENGTH: Final = 128
"""Characters of an MRA service domain's name at most."""
MRA_DOMAINS_MAX: Final = 32
"""DNS names of one MRA service domain at most."""

_OBJECT: Final = "mra-domain"
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
# RFC 1123 host names with at least two labels, the last not all digits.
_DOMAIN = re.compile(rf"(?=.{{1,253}}$)({_LABEL}\.)+(?![0-9]+$){_LABEL}")


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MRA_NAME_MAX_LENGTH or not name.isprintable():
        raise InvalidValue(f"MRA service domain name: 1-{MRA_NAME_MAX_LENGTH} printable characters")
    return name


def _check_domains(domains: Sequence[str]) -> tuple[str, ...]:
    if isinstance(domains, str):
        domains = [domains]
    names = tuple(dict.fromkeys(d.strip().lower().removesuffix(".") for d in domains))
    names = tuple(d for d in names if d)
    if not names:
        raise InvalidValue("an MRA service domain needs at least one domain")
    if len(names) > MRA_DOMAINS_MAX:
        raise InvalidValue(f"an MRA service domain has at most {MRA_DOMAINS_MAX} domains")
    for domain in names:
        if not _DOMAIN.fullmatch(domain):
            raise InvalidValue(f"domain {domain!r}: a DNS name such as mra.example.com")
    return names


def _detail(domain: MraDomain) -> dict[str, JsonValue]:
    domains: list[JsonValue] = [*domain.domains]
    return {"is_default": domain.is_default, "domains": domains}


async def list_mra_domains(store: Store) -> list[MraDomainRecord]:
    """Every MRA service domain, by name."""
    return await store.mra_domains.list()


async def get_mra_domain(store: Store, name: str) -> MraDomainRecord:
    """The MRA service domain called `name` (NotFound)."""
    record = await store.mra_domains.get(name.strip())
    if record is None:
        raise NotFound(f"there is no MRA service domain {name.strip()!r}")
    return record


async def add_mra_domain(
    store: Store, name: str, domains: Sequence[str] = (), *, is_default: bool = False
) -> MraDomainRecord:
    """Add an MRA service domain (Conflict when the name is taken)."""
    domain = MraDomain(
        name=_check_name(name), is_default=is_default, domains=_check_domains(domains)
    )
    try:
        record = await store.mra_domains.add(domain)
    except AlreadyExists:
        raise Conflict(f"MRA service domain {domain.name!r} exists already") from None
    await audit(store, "add", _OBJECT, record.name, _detail(record))
    await store.notify("config", f"mra domain {record.name}")
    return record


async def update_mra_domain(
    store: Store,
    name: str,
    *,
    domains: Sequence[str] | None = None,
    is_default: bool | None = None,
) -> MraDomainRecord:
    """Change the domains and/or the default flag; what is not given stays."""
    current = await get_mra_domain(store, name)
    domain = MraDomain(
        name=current.name,
        is_default=current.is_default if is_default is None else is_default,
        domains=current.domains if domains is None else _check_domains(domains),
    )
    if domain == MraDomain(
        name=current.name, is_default=current.is_default, domains=current.domains
    ):
        return current
    try:
        record = await store.mra_domains.update(domain)
    except StoreNotFound:
        raise NotFound(f"there is no MRA service domain {current.name!r}") from None
    detail = _detail(record)
    detail["old"] = _detail(current)
    await audit(store, "update", _OBJECT, record.name, detail)
    await store.notify("config", f"mra domain {record.name}")
    return record


async def delete_mra_domain(store: Store, name: str) -> None:
    """Remove an MRA service domain; refused while phones name it."""
    current = await get_mra_domain(store, name)
    users = [
        device.name
        for device in await store.devices.list()
        if device.mra_service_domain == current.name
    ]
    if users:
        shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
        raise Conflict(
            f"MRA service domain {current.name!r} is the Activation Code MRA Service Domain "
            f"of {shown}: choose another for them first"
        )
    if not await store.mra_domains.delete(current.name):
        raise NotFound(f"there is no MRA service domain {current.name!r}")
    await audit(store, "delete", _OBJECT, current.name, _detail(current))
    await store.notify("config", f"mra domain {current.name}")
