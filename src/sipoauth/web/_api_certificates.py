"""REST routes: certificate stores (issue 4 point 5, R3, R5).

An upload to a trust store is the certificate file itself as the body (PEM,
one or a chain; or DER), or JSON ``{"data": "<base64 of the file>"}``. The
tomcat identity is uploaded as JSON with the PEM texts.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field, SecretStr

from sipoauth import admin
from sipoauth.store import ServiceName

from ._api_base import ApiError, Body, Ctx, Out, Who

__all__ = ["RAW_CERTIFICATE_TYPES", "router"]

router = APIRouter(tags=["certificates"])

StoreName = Annotated[
    Literal["tomcat", "tomcat-trust", "phone-edge-trust", "callmanager-trust"],
    Path(description="The certificate store."),
]
TrustStoreName = Annotated[
    Literal["tomcat-trust", "phone-edge-trust", "callmanager-trust"],
    Path(description="A trust store."),
]
RAW_CERTIFICATE_TYPES: Final = (
    "application/x-pem-file",
    "application/pkix-cert",
    "application/x-x509-ca-cert",
    "application/pem-certificate-chain",
    "application/octet-stream",
    "text/plain",
)
"""Media types of a certificate file sent as the body."""


class CertificateOut(Out):
    """A certificate of a store."""

    store: str = Field(description="The store it is in.")
    subject: str = Field(description="Subject DN (RFC 4514).")
    issuer: str = Field(description="Issuer DN (RFC 4514).")
    not_before: datetime | None = Field(description="Start of validity.")
    not_after: datetime = Field(description="End of validity.")
    fingerprint: str = Field(description="SHA-256 fingerprint, `AB:CD:…`.")
    pem: str = Field(description="The certificate (public).")
    restart_pending: list[ServiceName] = Field(
        description="Tomcat changes: the services now restart pending on this node."
    )

    @classmethod
    def of(cls, info: admin.CertificateInfo) -> CertificateOut:
        return cls(
            store=info.store_name,
            subject=info.subject,
            issuer=info.issuer,
            not_before=info.not_before,
            not_after=info.not_after,
            fingerprint=info.fingerprint,
            pem=info.pem,
            restart_pending=list(info.restart_pending),
        )


class CertificateUpload(Body):
    """A certificate file, base64-encoded, for clients that only send JSON."""

    data: str = Field(description="Base64 of the file (PEM text or DER).")


class TomcatUpload(Body):
    """The node's new web identity (PEM texts)."""

    certificate: str = Field(description="The certificate (PEM, the leaf only).")
    private_key: SecretStr = Field(description="Its private key (PEM, unencrypted).")
    chain: str | None = Field(
        default=None, description="The issuers, PEM, nearest first (none: self-signed / node CA)."
    )


_UPLOAD_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CertificateUpload.model_json_schema()},
            **{
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in RAW_CERTIFICATE_TYPES
            },
        },
    }
}


async def _upload_bytes(request: Request) -> bytes:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    raw = await request.body()
    if kind == "application/json":
        try:
            upload = CertificateUpload.model_validate_json(raw)
        except ValueError:
            raise ApiError(
                422, "invalid_value", 'the JSON body must be {"data": "<base64>"}', field="data"
            ) from None
        try:
            return base64.b64decode(upload.data, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "invalid_value", "data: not base64", field="data") from None
    if kind not in RAW_CERTIFICATE_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the certificate file as one of {', '.join(RAW_CERTIFICATE_TYPES)}, "
            'or JSON {"data": "<base64>"}',
        )
    if not raw:
        raise ApiError(422, "invalid_value", "the body is empty: send the certificate file")
    return raw


@router.get("/certificates/{store}", operation_id="list_certificates")
async def list_certificates(ctx: Ctx, store: StoreName) -> list[CertificateOut]:
    """The certificates of a store (`tomcat`: this node's chain, leaf first)."""
    infos = await admin.list_certificates(ctx.store, store, node_name=ctx.node_name)
    return [CertificateOut.of(info) for info in infos]


@router.post(
    "/certificates/tomcat/regenerate",
    operation_id="regenerate_tomcat_certificate",
)
async def regenerate_tomcat(ctx: Ctx, who: Who) -> CertificateOut:
    """Issue this node a new web certificate from its CA (CallManager, TFTP and
    Tomcat become restart pending)."""
    with admin.acting_as(who.actor):
        info = await admin.regenerate_tomcat(ctx.store, node_name=ctx.node_name)
    return CertificateOut.of(info)


@router.put("/certificates/tomcat", operation_id="upload_tomcat_certificate")
async def upload_tomcat(ctx: Ctx, who: Who, body: TomcatUpload) -> CertificateOut:
    """Replace this node's web certificate, key and chain."""
    with admin.acting_as(who.actor):
        info = await admin.upload_tomcat(
            ctx.store,
            node_name=ctx.node_name,
            cert_pem=body.certificate.encode("utf-8"),
            key_pem=body.private_key.get_secret_value().encode("utf-8"),
            chain_pem=None if body.chain is None else body.chain.encode("utf-8"),
        )
    return CertificateOut.of(info)


@router.post(
    "/certificates/{store}",
    status_code=201,
    operation_id="upload_trust_certificates",
    openapi_extra=_UPLOAD_BODY,
)
async def upload_trust(
    request: Request, ctx: Ctx, who: Who, store: TrustStoreName
) -> list[CertificateOut]:
    """Add a certificate or a chain to a trust store, all or none."""
    data = await _upload_bytes(request)
    with admin.acting_as(who.actor):
        infos = await admin.upload_trust(ctx.store, store, data)
    return [CertificateOut.of(info) for info in infos]


@router.delete(
    "/certificates/{store}/{fingerprint}", status_code=204, operation_id="delete_certificate"
)
async def delete_certificate(
    ctx: Ctx,
    who: Who,
    store: TrustStoreName,
    fingerprint: Annotated[
        str,
        Path(description="SHA-256 fingerprint (64 hex digits, colons allowed).", max_length=128),
    ],
) -> Response:
    """Remove a certificate from a trust store."""
    with admin.acting_as(who.actor):
        await admin.delete_certificate(ctx.store, store, fingerprint)
    return Response(status_code=204)
