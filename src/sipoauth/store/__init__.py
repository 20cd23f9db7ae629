"""sipoauth.store."""
