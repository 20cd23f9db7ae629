"""The desk-phone simulator (issue 6 point 1): onboarding with an activation code.

A desk phone of an R1.1 model, known by its MAC address, is given a 16-digit
activation code by its user (R9 in the reference's words: "activation-code
onboarding"). It redeems it once at the token endpoint —
``grant_type=urn:sipoauth:params:oauth:grant-type:activation-code`` with
``client_id=sipoauth-desk-phone``, the code, its MAC and model (docs/oauth.md)
— and from then on lives on the tokens it got, as ``SEP<MAC>``: the rest is
the shared lifecycle of :class:`SimDevice`. Through an edge it onboards the
same way, at the edge's web port (R12.2: never with a password).

    phone = DeskPhone(DeskPhoneConfig(mac="001122334455", model="8851",
                                      activation_code="1234-5678-9012-3456",
                                      server=ServerAddress("cm1.example.com")))
    await phone.start()
    await phone.wait_for("registered")
    ...
    await phone.stop()
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from ._config import EdgeAddress, ServerAddress
from ._device import SimDevice
from ._errors import SimFailure
from ._network import DeviceSettings, SimNetwork
from ._tokens import ACTIVATION_GRANT, DESK_PHONE_CLIENT, OAuthFailure, mask_code, request_tokens

__all__ = ["DeskPhone", "DeskPhoneConfig", "normalise_mac"]

_MAC = re.compile(r"[0-9A-F]{12}")
_INSTANCE_NAMESPACE = uuid.UUID("7f6b8d5e-3c1a-4e8b-9a2d-51c0f0e5d6a1")
"""Namespace of the phones' ``+sip.instance`` UUIDs (stable per MAC, RFC 5626 §4.1)."""


def normalise_mac(mac: str) -> str:
    """12 upper-case hex digits (``:``, ``-``, ``.`` ignored); ValueError otherwise."""
    cleaned = re.sub(r"[:.\-]", "", mac.strip()).upper()
    if not _MAC.fullmatch(cleaned):
        raise ValueError(f"MAC address {mac!r}: 12 hex digits expected")
    return cleaned


@dataclass(frozen=True, slots=True)
class DeskPhoneConfig:
    """A simulated desk phone."""

    mac: str
    """The phone's MAC address; its device name is ``SEP<MAC>``."""
    model: str
    """An R1.1 model (``8851``, ``8845`` …); the activation code is bound to it."""
    activation_code: str
    """16 digits (dashes and spaces ignored). Never printed whole."""
    server: ServerAddress | None = None
    """On premises: the node's bootstrap address."""
    edge: EdgeAddress | None = None
    """Through Mobile and Remote Access: the edge's addresses."""
    settings: DeviceSettings = field(default_factory=DeviceSettings)


class DeskPhone(SimDevice):
    """A desk phone: activation-code onboarding, then the shared lifecycle."""

    client_id = DESK_PHONE_CLIENT

    def __init__(self, config: DeskPhoneConfig, *, network: SimNetwork | None = None) -> None:
        mac = normalise_mac(config.mac)
        super().__init__(
            name=f"SEP{mac}",
            model=config.model,
            instance=f"urn:uuid:{uuid.uuid5(_INSTANCE_NAMESPACE, mac)}",
            server=config.server,
            edge=config.edge,
            settings=config.settings,
            network=network,
        )
        self.config = config
        self.mac = mac

    async def _obtain_tokens(self) -> None:
        masked = mask_code(self.config.activation_code)
        form = {
            "grant_type": ACTIVATION_GRANT,
            "client_id": self.client_id,
            "activation_code": self.config.activation_code,
            "mac": self.mac,
            "model": self.model,
        }
        try:
            self.tokens = await request_tokens(
                self.network.http,
                self.token_endpoint(),
                form,
                context=self.context(),
                now=self._loop.time(),
            )
        except OAuthFailure as exc:
            detail = exc.description or exc.error
            if exc.error == "unreachable":
                raise SimFailure("activation", f"token endpoint unreachable: {detail}") from None
            raise SimFailure(
                "activation", f"activation with code {masked} refused: {exc.error} ({detail})"
            ) from None
        refresh = ", refresh token" if self.tokens.refresh_token else ", no refresh token"
        self.emit(
            "activated",
            f"activated with code {masked} (access token {self.tokens.expires_in} s{refresh})",
            expires_in=self.tokens.expires_in,
            refresh=self.tokens.refresh_token is not None,
        )
