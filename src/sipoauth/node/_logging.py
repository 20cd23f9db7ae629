"""Structured logs (structlog) for the node: to stderr, never with local variables.

Tracebacks are plain text without locals: a rich traceback with locals could
print a token or key held in a variable (STYLE.md rule 10).
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogLevel = Literal["debug", "info", "warning", "error"]

# Libraries that write secrets at DEBUG: aiosqlite and SQLAlchemy's engine log
# statement parameters (key material, hashes), Authlib the tokens it issues
# (also clamped where the authorization server is built). Their records stop at
# WARNING whatever the root logger's level (STYLE.md rule 10).
for _name in ("aiosqlite", "sqlalchemy.engine", "authlib"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def configure_logging(level: LogLevel = "info", *, json: bool = False) -> None:
    """Send structlog output to stderr at `level`, as JSON lines or readable text."""
    renderer: structlog.typing.Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if json else _identity,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )


class _StderrLogger:
    """Writes each rendered line to whatever `sys.stderr` is at that moment."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


def _stderr_logger(*args: object) -> _StderrLogger:
    return _StderrLogger()


def _identity(
    logger: object, name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    return event_dict
