"""sipoauth.admin."""
