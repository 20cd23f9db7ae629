"""sipoauth.sip."""
