"""One `[[jobs.NAME.clocks]]` table → a Clock, or Problems.

Times: a TOML datetime or ISO string without offset is wall time in the clock's zone, one
with an offset is taken as given; `start` and `end` also accept a date (its midnight).
An interval clock without `start` stays unanchored (`start=None`): the daemon anchors it
from its store, `clockd next` at the current second.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from clocks.base import CATCHUP_POLICIES
from scheduler.config.keys import CLOCK_KEYS, CLOCK_KINDS
from scheduler.config.values import NAME_PATTERN, Section, describe

if TYPE_CHECKING:
    from clocks.base import Clock


def read_moment(value: Any, *, allow_date: bool) -> datetime | str:
    """A TOML value → a datetime (naive = wall time, aware = as given), or a message."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if allow_date and len(text) == 10:
                value = date.fromisoformat(text)
            else:
                value = datetime.fromisoformat(text)
        except ValueError:
            example = "'2026-03-29T02:30:00', '2026-03-29T02:30:00+02:00'" + (
                " or '2026-03-29'" if allow_date else ""
            )
            return f"invalid date and time {describe(value)}: use ISO 8601 such as {example}"
    if isinstance(value, datetime):
        if value.microsecond:
            return f"{value.isoformat()} has fractional seconds: clockd works in whole seconds"
        return value
    if isinstance(value, date) and allow_date:
        return datetime.combine(value, time())
    what = "a date and time" + (" or a date" if allow_date else "")
    return f"expected {what}, got {describe(value)}"


def to_instant(moment: datetime, zone_name: str) -> datetime:
    """Naive wall time in the zone (gap → after it, fold → first) or aware as given → UTC."""
    from clocks.localtime import first_instant, get_zone

    if moment.tzinfo is None:
        return first_instant(moment, get_zone(zone_name))
    return moment.astimezone(UTC)


def clock_label(table: Any) -> str | None:
    """The clock's name when the user gave one, for problem locations."""
    name = table.get("name") if isinstance(table, dict) else None
    return name if isinstance(name, str) else None


def build_clock(section: Section, index: int, *, default_timezone: str) -> Clock | None:
    """The clock of `section.table`, or None when a problem was recorded in `section`."""
    from clocks.errors import ClockError
    from clocks.localtime import get_zone

    section.check_keys(CLOCK_KEYS)
    name = section.string("name", f"clock-{index + 1}", allow_empty=False)
    if section.has("name") and isinstance(name, str) and not NAME_PATTERN.match(name):
        section.report(
            f"invalid clock name {describe(name)}: use letters, digits, '-', '_' and '.'", "name"
        )

    timezone = section.string("timezone", default_timezone, allow_empty=False)
    try:
        get_zone(timezone)
        zone_ok = True
    except ClockError as error:
        section.report(error.message, "timezone")
        zone_ok = False

    kinds = [kind for kind in CLOCK_KINDS if section.has(kind)]
    if not kinds:
        section.report("needs exactly one of interval, cron or at: none given")
    elif len(kinds) > 1:
        section.report(f"needs exactly one of interval, cron or at: {' and '.join(kinds)} given")

    bounds: dict[str, datetime] = {}
    for key in ("start", "end"):
        if not section.has(key):
            continue
        moment = read_moment(section.table[key], allow_date=True)
        if isinstance(moment, str):
            section.report(moment, key)
        elif zone_ok:
            bounds[key] = to_instant(moment, timezone)
    if "start" in bounds and "end" in bounds and bounds["start"] > bounds["end"]:
        section.report(
            f"start {_show(section.table['start'])} is after end {_show(section.table['end'])}: "
            "nothing would fire; swap them or remove end"
        )
        del bounds["end"]  # reported once: the clock is still built to find its other problems

    catchup = section.choice("catchup", CATCHUP_POLICIES, "latest")
    jitter = section.duration("jitter", timedelta(0))
    enabled = section.boolean("enabled", True)
    labels = section.string_table("labels")
    defaults = section.table_of("parameters")

    common: dict[str, Any] = {
        "name": name,
        "timezone": timezone,
        "start": bounds.get("start"),
        "end": bounds.get("end"),
        "parameter_defaults": dict(defaults),
        "labels": labels,
        "jitter": jitter,
        "catchup": catchup,
        "enabled": enabled,
    }
    earlier = section.seen_problem
    specific = _kind_fields(section, kinds[0]) if len(kinds) == 1 else None
    if specific is None or not zone_ok:
        return None
    cls, fields = specific
    # Built even after another problem of this clock (an unknown key), so that its own
    # problem (a bad cron expression) is reported too: every problem at once (spec 2.2).
    try:
        clock: Clock = cls(**common, **fields)
    except ClockError as error:
        section.report(_clock_message(error, kinds[0], section.table[kinds[0]]))
        return None
    return None if earlier or section.seen_problem else clock


def _kind_fields(section: Section, kind: str) -> tuple[type, dict[str, Any]] | None:
    value = section.table[kind]
    if kind == "cron":
        from clocks.cron import CronClock

        if not isinstance(value, str):
            section.report(
                f"expected a cron expression such as '30 2 * * *', got {describe(value)}", "cron"
            )
            return None
        return CronClock, {"expression": value}
    if kind == "interval":
        from clocks.durations import parse_duration
        from clocks.errors import ClockError
        from clocks.interval import IntervalClock

        if not isinstance(value, str):
            section.report(
                f"expected a duration such as '5m' or 'P1D', got {describe(value)}", "interval"
            )
            return None
        try:
            interval = parse_duration(value)
        except ClockError as error:
            section.report(error.message, "interval")
            return None
        return IntervalClock, {"interval": interval}
    from clocks.dates import DatesClock

    items = value if isinstance(value, list) else [value]
    if not items:
        section.report("expected at least one date and time", "at")
        return None
    dates = []
    for position, item in enumerate(items):
        moment = read_moment(item, allow_date=True)
        if isinstance(moment, str):
            where = f"at[{position}]" if isinstance(value, list) else "at"
            section.report(moment, where)
        else:
            dates.append(moment)
    if len(dates) != len(items):
        return None
    return DatesClock, {"dates": tuple(dates)}


def _clock_message(error: Exception, kind: str, value: Any) -> str:
    message = getattr(error, "message", str(error))
    if kind == "cron" and not message.startswith("invalid cron expression"):
        return f"invalid cron expression {describe(value)}: {message}"
    if kind == "interval" and "interval" not in message:
        return f"interval {describe(value)}: {message}"
    return message


def _show(value: Any) -> str:
    return value if isinstance(value, str) else describe(value)
