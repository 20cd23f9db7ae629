"""sipoauth.pki."""
