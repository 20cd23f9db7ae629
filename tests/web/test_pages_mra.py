"""Admin pages: Device > MRA Service Domain (R12.1)."""

from __future__ import annotations

from sipoauth import admin

from ._pages_support import browser
from ._support import Api
from .test_pages_system import error_of


async def test_mra_service_domains(api: Api) -> None:
    async with browser(api) as b:
        r = await b.post("/admin/mra-domains/new", {"name": "MRA", "domains": "not a domain"})
        assert r.status_code == 422 and "mra.example.com" in error_of(r.text, "domains")
        r = await b.post(
            "/admin/mra-domains/new",
            {"name": "MRA", "domains": "mra.example.com", "is_default": "on"},
        )
        assert r.status_code == 303
        record = await admin.get_mra_domain(api.store, "MRA")
        assert record.domains == ("mra.example.com",) and record.is_default
        r = await b.post(
            "/admin/mra-domains/edit?name=MRA", {"domains": "mra.example.com, mra2.example.com"}
        )
        assert r.status_code == 303
        record = await admin.get_mra_domain(api.store, "MRA")
        assert len(record.domains) == 2 and not record.is_default
        await admin.add_device(
            api.store,
            name="SEP001122334455",
            model="8851",
            lines=[],
            allow_activation_via_mra=True,
            mra_service_domain="MRA",
        )
        r = await b.post("/admin/mra-domains/delete?name=MRA", {"confirm": "yes"})
        r = await b.get(r.headers["location"])
        assert "SEP001122334455" in r.text and "flash-error" in r.text
        assert await admin.get_mra_domain(api.store, "MRA")
