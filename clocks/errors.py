"""Errors of the clock model. They carry data; the layer that knows the location renders it."""

from __future__ import annotations


class ClockError(ValueError):
    """A clock definition that cannot work.

    `message` is the whole sentence after the location, in the house grammar:
    "subject 'value': what is wrong: what is allowed; how to fix".

    >>> str(ClockError("invalid cron expression '61 * * * *': minute 61 is out of range 0-59", field="minute"))
    "invalid cron expression '61 * * * *': minute 61 is out of range 0-59"
    """

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
