"""clocks: a pure model of parametrized schedules. No I/O, no clock reading: times are arguments.

    >>> from datetime import UTC, datetime
    >>> from clocks import CronClock
    >>> CronClock(name="hourly", expression="0 * * * *").next_fire(
    ...     datetime(2026, 3, 1, 9, 30, tzinfo=UTC)).isoformat()
    '2026-03-01T10:00:00+00:00'

The names below are imported on first use (module `__getattr__`), so that importing
`clocks` — as `clockd --help` does through the CLI — loads neither pendulum nor jsonschema.
A new clock kind adds its class to `_FACE` and to the TYPE_CHECKING block.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clocks.calendar import Calendar, Filters
    from clocks.cron import CronClock
    from clocks.dates import DatesClock
    from clocks.errors import ClockError
    from clocks.filters import FilteredClock, Outcome
    from clocks.interval import IntervalClock
    from clocks.parameters import ParameterSet
    from clocks.rrule import RRuleClock
    from clocks.schedule import Schedule

__all__ = [
    "Calendar",
    "ClockError",
    "CronClock",
    "DatesClock",
    "FilteredClock",
    "Filters",
    "IntervalClock",
    "Outcome",
    "ParameterSet",
    "RRuleClock",
    "Schedule",
]

# Public name → the module that defines it.
_FACE = {
    "Calendar": "clocks.calendar",
    "ClockError": "clocks.errors",
    "FilteredClock": "clocks.filters",
    "Filters": "clocks.calendar",
    "Outcome": "clocks.filters",
    "RRuleClock": "clocks.rrule",
    "CronClock": "clocks.cron",
    "DatesClock": "clocks.dates",
    "IntervalClock": "clocks.interval",
    "ParameterSet": "clocks.parameters",
    "Schedule": "clocks.schedule",
}


def __getattr__(name: str) -> Any:
    module = _FACE.get(name)
    if module is None:
        raise AttributeError(f"module 'clocks' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
