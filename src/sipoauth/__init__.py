"""sipoauth: a SIP OAuth mode call-control node."""

__version__ = "0.1.0"
