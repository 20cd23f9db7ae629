"""Tests of the `sipoauth` command line."""
