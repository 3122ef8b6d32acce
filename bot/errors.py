"""Two kinds of failure: ones we can explain to the user, and ones we log with an id."""

from __future__ import annotations

import logging
import secrets


class UserError(Exception):
    """A failure caused by input; its message is a complete sentence safe to show anyone."""


class ConflictError(UserError):
    """A concurrent writer appended first; the caller's decision was based on stale state."""


def report_unexpected(logger: logging.Logger, exc: BaseException, *, context: str) -> str:
    """Log an unexpected error with its traceback and return a short id to show the user."""
    error_id = secrets.token_hex(4)
    logger.error("unexpected error %s while %s", error_id, context, exc_info=exc)
    return error_id
