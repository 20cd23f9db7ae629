"""sipoauth.oauth."""
