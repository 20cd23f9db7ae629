"""sipoauth.web."""
