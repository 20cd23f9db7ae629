"""`python -m sipoauth` runs the command line."""

from sipoauth.cli import main

main()
