"""Certificate Management (R3, R5): list a store, upload a certificate or chain
to a trust store (purpose drop-down, the file or its PEM text), delete a
trusted certificate, regenerate the node's web certificate (tomcat) or replace
it with an uploaded certificate, key and chain.

The upload is an ordinary form: the page script reads the chosen file into
the PEM text area (no multipart parser needed), and without script the PEM
text can be pasted. The rules (validity, no private key, at most 16 in
phone-edge-trust, restart pending) are ``admin.upload_trust``'s.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin

from ._pages_base import Choice, Field, FormState, Page, Pages, page, url

__all__ = ["routes"]

_PURPOSES: Final = {
    "tomcat-trust": "tomcat-trust — clients of the web and MRA ports: the Expressway-C (R5, R6)",
    "phone-edge-trust": "phone-edge-trust — the CA desk phones trust (caconfig.json, R3)",
    "callmanager-trust": "callmanager-trust — manufacturers' CAs of phones",
}
_UPLOAD: Final = [
    Field(
        name="purpose",
        label="Certificate Purpose",
        kind="select",
        choices=tuple(Choice(k, v) for k, v in _PURPOSES.items()),
        aliases=("trust store",),
    ),
    Field(
        name="file",
        label="Upload File",
        kind="file",
        help="A certificate or chain, PEM or DER: the page reads it into the text below.",
        attrs={"data-into": "f-pem", "accept": ".pem,.crt,.cer,.der"},
    ),
    Field(
        name="pem",
        label="Certificate (PEM)",
        kind="textarea",
        help="Or paste the PEM text: one certificate, or a chain.",
        attrs={"rows": "8"},
        aliases=("certificate", "pem"),
    ),
]


_TOMCAT: Final = [
    Field(
        name="cert_pem",
        label="Web certificate (PEM)",
        kind="textarea",
        required=True,
        attrs={"rows": "6"},
        aliases=("certificate",),
    ),
    Field(
        name="key_pem",
        label="Private key (PEM)",
        kind="textarea",
        required=True,
        help="Kept in the node's data directory; never shown again.",
        attrs={"rows": "6", "autocomplete": "off"},
        aliases=("key",),
    ),
    Field(
        name="chain_pem",
        label="Chain (PEM, optional)",
        kind="textarea",
        help="The intermediate CAs, if any.",
        attrs={"rows": "4"},
        aliases=("chain",),
    ),
]


async def certificates(
    current: Page, state: FormState | None = None, tomcat: FormState | None = None
) -> Response:
    ctx = current.ctx
    name = current.query.get("store", "tomcat")
    if name not in admin.CERTIFICATE_STORES:
        name = "tomcat"
    rows = await admin.list_certificates(ctx.store, name, node_name=ctx.node_name)
    state = state or FormState(values={"purpose": name if name != "tomcat" else "tomcat-trust"})
    return current.render(
        "certificates.html",
        status=422 if state.errors or (tomcat and tomcat.errors) else 200,
        title="Certificate Management",
        stores=admin.CERTIFICATE_STORES,
        selected=name,
        rows=rows,
        state=state,
        fields=_UPLOAD,
        trust=name in admin.TRUST_STORES,
        tomcat=tomcat or FormState(),
        tomcat_fields=_TOMCAT,
    )


async def upload(current: Page) -> Response:
    values = current.values(_UPLOAD)
    state = FormState(values=values)
    text = values["pem"].strip()
    try:
        if not text:
            raise admin.InvalidValue("Certificate (PEM): choose a file or paste its PEM text")
        added = await admin.upload_trust(
            current.ctx.store, values["purpose"], text.encode("utf-8"), now=current.ctx.now()
        )
    except admin.AdminError as exc:
        state.fail(exc, _UPLOAD)
        return await certificates(current, state)
    subjects = "; ".join(c.subject for c in added)
    return current.redirect(
        url("/certificates", store=values["purpose"]),
        f"Uploaded to {values['purpose']}: {subjects}.",
    )


async def upload_tomcat(current: Page) -> Response:
    """Replace this node's web certificate (tomcat) with an uploaded one."""
    ctx = current.ctx
    values = current.values(_TOMCAT)
    try:
        info = await admin.upload_tomcat(
            ctx.store,
            node_name=ctx.node_name,
            cert_pem=values["cert_pem"].encode("utf-8"),
            key_pem=values["key_pem"].encode("utf-8"),
            chain_pem=values["chain_pem"].encode("utf-8") or None,
            now=ctx.now(),
        )
    except admin.AdminError as exc:
        state = FormState(values={**values, "key_pem": ""})  # a key is never sent back
        state.fail(exc, _TOMCAT)
        return await certificates(current, None, state)
    pending = ", ".join(info.restart_pending)
    return current.redirect(
        url("/certificates", store="tomcat"),
        f"The web certificate of {ctx.node_name} is now {info.subject}; restart {pending}.",
    )


async def delete(current: Page) -> Response:
    name = current.query.get("store", "")
    fingerprint = current.query.get("fingerprint", "")
    back = url("/certificates", store=name)
    rows = await admin.list_certificates(current.ctx.store, name, node_name=current.ctx.node_name)
    row = next((r for r in rows if r.fingerprint == fingerprint), None)
    if row is None:
        raise admin.NotFound(f"{name} holds no certificate {fingerprint}")

    async def act() -> str:
        await admin.delete_certificate(current.ctx.store, name, fingerprint)
        return f"Deleted the certificate from {name}."

    return await current.confirm(
        act,
        done=back,
        back=back,
        action=url("/certificates/delete", store=name, fingerprint=fingerprint),
        title="Delete certificate",
        crumbs=[("Certificate Management", back)],
        question=f"Delete {row.subject} from {name}?",
        detail=f"SHA-256 {row.fingerprint}.",
        confirm_label="Delete certificate",
    )


async def regenerate(current: Page) -> Response:
    back = url("/certificates", store="tomcat")
    ctx = current.ctx

    async def act() -> str:
        info = await admin.regenerate_tomcat(ctx.store, node_name=ctx.node_name)
        pending = ", ".join(info.restart_pending)
        return f"Regenerated the web certificate of {ctx.node_name}; restart {pending}."

    return await current.confirm(
        act,
        done=back,
        back=back,
        action="/certificates/regenerate",
        title="Regenerate the web certificate",
        crumbs=[("Certificate Management", back)],
        question=f"Regenerate the web certificate (tomcat) of {ctx.node_name}?",
        detail="A new certificate is issued by the cluster CA. Cisco CallManager, Cisco "
        "Tomcat and Cisco TFTP keep presenting the old one until they restart.",
        confirm_label="Regenerate",
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/certificates", page(pages, certificates), methods=["GET"]),
        Route("/certificates/upload", page(pages, upload, upload=True), methods=["POST"]),
        Route("/certificates/tomcat", page(pages, upload_tomcat, upload=True), methods=["POST"]),
        Route("/certificates/delete", page(pages, delete), methods=both),
        Route("/certificates/regenerate", page(pages, regenerate), methods=both),
    ]
