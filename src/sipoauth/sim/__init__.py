"""Simulators shipped with the product (B3): devices, soft clients, the edge."""

from ._phone import PhoneIdentity, SipTlsClient, register_request

__all__ = ["PhoneIdentity", "SipTlsClient", "register_request"]
