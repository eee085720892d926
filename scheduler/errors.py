"""Errors a user can cause. The CLI prints them as one line; the API maps them to a status."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix: printed without a traceback, exit code 1 (2 for usage)."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class NotFound(UserError):
    """An unknown job, clock or run."""


class DaemonUnreachable(UserError):
    """The daemon's API did not answer."""


class Conflict(UserError):
    """A request that the state of things refuses: cancelling a run that already ended."""


class ConfigRefused(UserError):
    """A reload refused: the new config has problems (one line each); nothing changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the new config is refused; the old schedule keeps running")
        self.problems = problems
