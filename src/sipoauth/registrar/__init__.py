"""sipoauth.registrar."""
