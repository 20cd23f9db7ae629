"""Errors of the administration rules, each with the HTTP status adapters answer with."""

from __future__ import annotations


class AdminError(Exception):
    """A refused administrative action; `message` is safe to show to the operator."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValue(AdminError):
    """A value out of range or of the wrong form (400)."""


class NotFound(AdminError):
    """The object does not exist (404)."""

    status = 404


class Conflict(AdminError):
    """The object exists already, or the action contradicts another setting (409)."""

    status = 409


class NotPublisher(AdminError):
    """A cluster-wide command run on a subscriber node (403)."""

    status = 403
