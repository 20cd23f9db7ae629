"""The admin pages in a real browser: the task flow R3 → R9 and R12.1,
validation, CSRF refusal, lockout, and the live registrations page showing a
simulated phone; every result is checked through the REST API."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from playwright.async_api import expect

from node._support import PHONE2, port_of
from sipoauth.pki import cert_to_pem, client_ssl_context, generate_ca
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request

from .conftest import Site


async def test_task_flow_through_the_pages(site: Site) -> None:
    page = site.page
    await page.goto(site.base + "/admin/servers")
    await expect(page).to_have_url(re.compile(r"/admin/signin\?next=%2Fadmin%2Fservers"))
    await site.shot("signin")
    await site.page.get_by_label("User name").fill("admin")
    await site.page.get_by_label("Password").fill("test-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Find and List Servers")).to_be_visible()
    await site.shot("servers")

    # R3: the CA that signed the web certificate, to phone-edge-trust (file chosen).
    ca, _ = generate_ca("Browser Test Root CA", now=datetime.now(UTC))
    ca_file = site.folder / "ca.pem"
    ca_file.write_bytes(cert_to_pem(ca))
    await page.get_by_role("link", name="Certificates").click()
    await page.get_by_label("Certificate Purpose").select_option("phone-edge-trust")
    await page.get_by_label("Upload File").set_input_files(ca_file)
    await expect(page.get_by_label("Certificate (PEM)", exact=True)).to_have_value(
        re.compile("BEGIN")
    )
    await site.shot("r3-upload-ca")
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Uploaded to phone-edge-trust")
    await site.shot("r3-uploaded")
    trusted = (await site.api.get("/certificates/phone-edge-trust")).json()
    assert any("Browser Test Root CA" in c["subject"] for c in trusted)

    # R4: the refresh login flow, with its siblings, saved as a unit.
    await page.get_by_role("link", name="Enterprise Parameters").click()
    await page.get_by_label("OAuth with Refresh Login Flow").select_option("true")
    await page.get_by_label("OAuth Access Token Expiry Timer (minutes)").fill("30")
    await site.shot("r4-enterprise-parameters")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved: OAuth with Refresh Login")
    r = await site.api.get("/parameters/OAuth with Refresh Login Flow")
    assert r.json()["value"] is True
    assert (await site.api.get("/parameters/enterprise.oauth_access_token_minutes")).json()[
        "value"
    ] == 30

    # R5: the OAuth ports of the server; a bad one is refused next to the field.
    await page.get_by_role("link", name="Server", exact=True).click()
    await page.get_by_role("link", name="node1").click()
    await page.get_by_label("SIP Mobile and Remote Access Port").fill("80")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#e-mra_port")).to_contain_text("1024-49151")
    await site.shot("r5-port-refused")
    await page.get_by_label("SIP Phone OAuth Port").fill("5190")
    await page.get_by_label("SIP Mobile and Remote Access Port").fill("5191")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved node1")
    await site.shot("r5-ports-saved")
    server = (await site.api.get("/servers/node1")).json()
    assert (server["oauth_port"], server["mra_port"]) == (5190, 5191)

    # R6: an Expressway-C entry.
    await page.get_by_role("link", name="Expressway-C").click()
    await page.get_by_role("link", name="Add New").click()
    await page.get_by_label("IP address / host name / FQDN").fill("192.0.2.60")
    await page.get_by_label("Description").fill("Expressway-C 2")
    await page.get_by_label("X.509 Subject Name / Subject Alternate Name").fill("expc2.example.com")
    await site.shot("r6-expressway-c")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Added 192.0.2.60")
    edge = (await site.api.get("/edges/192.0.2.60")).json()
    assert edge["x509_names"] == ["expc2.example.com"]

    # R7: SIP OAuth mode, enabled on the publisher for the cluster.
    assert (await site.api.post("/sip-oauth-mode/disable")).status_code == 200
    await page.get_by_role("link", name="SIP OAuth Mode").click()
    await page.get_by_role("button", name="Enable SIP OAuth mode").click()
    await expect(page.get_by_role("status")).to_contain_text("Restart Cisco CallManager on node1")
    await site.shot("r7-mode-enabled")
    assert (await site.api.get("/sip-oauth-mode")).json()["enabled"] is True

    # R8: restart Cisco CallManager from Feature Services; the node carries it out.
    await page.get_by_role("link", name="Feature Services").click()
    await expect(page.get_by_text("Restart pending").first).to_be_visible()
    await site.shot("r8-restart-pending")
    await page.get_by_role("button", name="Restart Cisco CallManager").click()
    await page.get_by_role("button", name="Restart", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Cisco CallManager restarted")
    await site.shot("r8-restarted")
    [node1] = (await site.api.get("/sip-oauth-mode")).json()["nodes"]
    assert node1["applied"] and not node1["restart_pending"]

    # R9: the OAuth checkbox follows Encrypted + TLS in the page.
    await page.get_by_role("link", name="Phone Security Profile").click()
    await page.get_by_role("link", name="Add New").click()
    await page.locator("#f-name").fill("8851 OAuth")
    await page.get_by_label("Device type").select_option("8851")
    oauth = page.get_by_label("Enable OAuth Authentication")
    await expect(oauth).to_be_enabled()
    await page.get_by_label("Transport Type").select_option("TCP")
    await expect(oauth).to_be_disabled()
    await site.shot("r9-oauth-disabled-without-tls")
    await page.get_by_label("Transport Type").select_option("TLS")
    await expect(oauth).to_be_enabled()
    await oauth.check()
    await expect(page.get_by_label("Enable Digest Authentication")).to_be_disabled()
    await site.shot("r9-profile")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Added profile 8851 OAuth")
    profile = (await site.api.get("/profiles/8851 OAuth")).json()
    assert (profile["oauth"], profile["security_mode"], profile["transport"]) == (
        True,
        "encrypted",
        "TLS",
    )

    # R12.1: the phone's activation fields, Save, Apply Config, an activation code.
    assert (
        await site.api.post("/mra-domains", json={"name": "MRA", "domains": ["mra.example.com"]})
    ).status_code == 201
    await page.get_by_role("link", name="Phone", exact=True).click()
    await page.get_by_label("Find Phones where").select_option("name")
    await page.locator("#find-text").fill("SEP0011")
    await page.get_by_role("button", name="Find").click()
    await site.shot("r12-find-phone")
    await page.get_by_role("link", name="SEP001122334455").click()
    await page.get_by_label("Device Security Profile").select_option("8851 OAuth")
    await page.get_by_label("Requires Activation Code for Onboarding").check()
    await page.get_by_label("Allow Activation Code via MRA").check()
    await page.get_by_label("Activation Code MRA Service Domain").select_option("MRA")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Apply Config")
    await site.shot("r12-phone-saved")
    await page.get_by_role("button", name="Apply Config").click()
    await expect(page.get_by_role("status")).to_contain_text("Apply Config sent")
    await page.get_by_role("button", name="Generate New Activation Code").click()
    code = await page.locator("#activation-code").inner_text()
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{4} \(valid until .*\)", code)
    await site.shot("r12-activation-code")
    device = (await site.api.get("/devices/SEP001122334455")).json()
    assert device["profile"] == "8851 OAuth" and device["allow_activation_via_mra"]
    assert device["mra_service_domain"] == "MRA" and not device["reset_required"]
    codes = (await site.api.get("/activation-codes")).json()
    assert [c["device"] for c in codes] == ["SEP001122334455"]

    # Sign out: the session is gone.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_contain_text("You are signed out")
    await page.goto(site.base + "/admin/phones")
    await expect(page).to_have_url(re.compile(r"/admin/signin"))


async def test_validation_csrf_and_lockout(site: Site) -> None:
    page = site.page
    await site.signin()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    # Validation next to the field, what was typed kept.
    await page.goto(site.base + "/admin/phones/new")
    await page.get_by_label("Device name").fill("SEPNOTHEX")
    await page.get_by_label("Directory numbers").fill("1001")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#e-name")).to_contain_text("SEP or BAT")
    await expect(page.get_by_label("Device name")).to_have_value("SEPNOTHEX")
    await expect(page.get_by_label("Device name")).to_have_attribute("aria-invalid", "true")
    await site.shot("validation")
    # CSRF: a form whose token is not the session's changes nothing.
    await page.goto(site.base + "/admin/servers/edit?name=node1")
    await page.locator("form.form input[name=csrf_token]").evaluate("e => e.value = 'forged'")
    await page.get_by_label("SIP Phone OAuth Port").fill("5290")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was changed")
    await site.shot("csrf-refused")
    assert (await site.api.get("/servers/node1")).json()["oauth_port"] != 5290
    # Lockout: repeated failures for one user lock it, with a clear message.
    await page.context.clear_cookies()
    for _ in range(5):
        await site.signin("ghost", "wrong-password")
    await expect(page.get_by_role("alert")).to_contain_text("Sign-in is locked")
    await site.shot("lockout")
    r = await site.api.get("/servers", auth=("ghost", "wrong-password"))
    assert r.status_code == 429  # the same lockout as the REST API's


async def test_live_registrations_show_a_simulated_phone(site: Site) -> None:
    page = site.page
    await site.signin()
    await page.get_by_role("link", name="Registrations", exact=True).click()
    await expect(page.get_by_role("heading", name="0 registrations")).to_be_visible()
    await site.shot("no-registrations")
    # A phone registers (the product's SIP client, a token of its own, R11)…
    context = client_ssl_context([site.prepared.ca_pem], None, None)
    client = await SipTlsClient.connect(
        "127.0.0.1", port_of(site.node, "TLS"), context, server_hostname="localhost"
    )
    try:
        phone = PhoneIdentity(device=PHONE2, line="2001", domain="localhost")
        call_id = str(uuid.uuid4())
        for cseq, token in ((1, None), (2, site.prepared.mint(PHONE2))):
            request = register_request(
                phone, call_id=call_id, cseq=cseq, branch=client.next_branch(), token=token
            )
            response = await client.request(request)
        assert response.status == 200
        await site.node.flush()
        # … and the page, refreshing itself, shows it.
        table = page.locator("#registrations")
        await expect(table).to_contain_text(PHONE2, timeout=15_000)
        await expect(table).to_contain_text("2001")
        await expect(table).to_contain_text("Direct")
        await site.shot("phone-registered")
        rows = (await site.api.get("/registrations", params={"device": PHONE2})).json()
        assert [r["device"] for r in rows] == [PHONE2]
    finally:
        await client.close()


async def test_keyboard_only(site: Site) -> None:
    """Sign in and reach a page's content with the keyboard alone."""
    page = site.page
    await page.goto(site.base + "/admin/signin")
    await expect(page.get_by_label("User name")).to_be_focused()  # autofocus
    await page.keyboard.type("admin")
    await page.keyboard.press("Tab")
    await page.keyboard.type("test-password")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await site.shot("skip-link")
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    # The navigation is reachable in order and marks the current page.
    await page.get_by_role("link", name="Expressway-C", exact=True).focus()
    await page.keyboard.press("Enter")
    current = page.locator('nav a[aria-current="page"]')
    await expect(current).to_have_text("Expressway-C")
