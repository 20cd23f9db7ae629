"""sipoauth.provisioning."""
