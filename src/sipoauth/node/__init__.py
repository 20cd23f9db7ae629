"""sipoauth.node."""
