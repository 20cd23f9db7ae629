"""sipoauth.sim."""
