"""One `[[jobs.NAME.clocks]]` table → a Clock, or Problems.

Times: a TOML datetime or ISO string without offset is wall time in the clock's zone, one
with an offset is taken as given; `start` and `end` also accept a date (its midnight).
An interval clock without `start` stays unanchored (`start=None`): the daemon anchors it
from its store, `clockd next` at the current second.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from clocks.base import CATCHUP_POLICIES
from scheduler.config.keys import CLOCK_KEYS, CLOCK_KINDS
from scheduler.config.values import NAME_PATTERN, Section, describe

if TYPE_CHECKING:
    from clocks.base import Clock
    from clocks.calendar import Calendar, Filters


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


def build_clock(
    section: Section,
    index: int,
    *,
    default_timezone: str,
    calendars: Mapping[str, Calendar | None] | None = None,
    now: datetime | None = None,
) -> Clock | None:
    """The clock of `section.table`, or None when a problem was recorded in `section`.

    `calendars` are the config's `[calendars.*]` (None for one with problems of its own)."""
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
        section.report("needs exactly one of interval, cron, at or rrule: none given")
    elif len(kinds) > 1:
        section.report(
            f"needs exactly one of interval, cron, at or rrule: {' and '.join(kinds)} given"
        )
    is_rrule = kinds == ["rrule"]

    bounds: dict[str, datetime] = {}
    walls: dict[str, datetime] = {}
    for key in ("start", "end"):
        if not section.has(key):
            continue
        moment = read_moment(section.table[key], allow_date=True)
        if isinstance(moment, str):
            section.report(moment, key)
        elif zone_ok:
            bounds[key] = to_instant(moment, timezone)
            if is_rrule and key == "start":
                walls["start"] = moment  # DTSTART: read by RFC 5545's rules (spec 2.5)
            if is_rrule and key == "end" and _is_date(section.table[key]):
                bounds[key] = _day_end(moment, timezone)  # a date-only end: through that day
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

    filters = build_filters(section, timezone if zone_ok else "UTC", calendars or {})
    common: dict[str, Any] = {
        "name": name,
        "timezone": timezone,
        "start": walls.get("start", bounds.get("start")),
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
    if filters is None:
        return None
    from clocks.filters import FilteredClock

    clock = FilteredClock.wrap(clock, filters)
    if (filters or is_rrule) and not (earlier or section.seen_problem):
        _check_fires_at_all(section, clock, now)
    return None if earlier or section.seen_problem else clock


def _is_date(value: Any) -> bool:
    if isinstance(value, str):
        return len(value.strip()) == 10
    return isinstance(value, date) and not isinstance(value, datetime)


def _day_end(moment: datetime, zone_name: str) -> datetime:
    from clocks.localtime import first_instant, get_zone

    following = datetime.combine(moment.date() + timedelta(days=1), time())
    return first_instant(following, get_zone(zone_name)) - timedelta(seconds=1)


def _check_fires_at_all(section: Section, clock: Clock, now: datetime | None) -> None:
    """Spec 2.5: refused when its rules leave no fire in the ten years from its start."""
    from clocks.errors import ClockError

    origin = clock.start or now or datetime.now(UTC)
    probe = clock.anchored(origin)
    try:
        first = probe.next_fire(origin - timedelta(seconds=1))
    except ClockError as error:
        section.report(error.message)
        return
    if first is None and clock.end is not None:
        return  # ended: nothing left within start and end is what the user wrote
    if first is None or first - origin > timedelta(days=3653):
        section.report(
            "never fires: its rules leave no fire in the ten years from its start; "
            "check rrule, calendar, exclude and between"
        )


def build_filters(
    section: Section, timezone: str, calendars: Mapping[str, Calendar | None]
) -> Filters | None:
    """calendar, on_closed_day, between and exclude of a clock (spec 2.5); None on a problem."""
    from clocks.calendar import ON_CLOSED_DAY, Filters
    from clocks.localtime import get_zone

    failed = False
    calendar = None
    name = section.string("calendar", allow_empty=False)
    if isinstance(name, str):
        if name not in calendars:
            close = difflib.get_close_matches(name, list(calendars), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(calendars) if calendars else "none is defined"
            section.report(
                f"unknown calendar '{name}'{hint}: define [calendars.{name}] or use one of: {known}",
                "calendar",
            )
            failed = True
        else:
            calendar = calendars[name]
            failed = calendar is None  # its own problems are reported at [calendars.NAME]
    policy = section.choice("on_closed_day", ON_CLOSED_DAY, "skip")
    if section.has("on_closed_day") and not section.has("calendar"):
        section.report('only applies with a calendar: add calendar = "NAME"', "on_closed_day")
    between = None
    if section.has("between"):
        between = _between(section)
        failed = failed or between is None
    days: set[date] = set()
    times: set[datetime] = set()
    raw = section.table.get("exclude", [])
    if not isinstance(raw, list):
        section.report(f"expected an array of dates and date-times, got {describe(raw)}", "exclude")
        raw = []
    for position, item in enumerate(raw):
        moment = read_moment(item, allow_date=True)
        if isinstance(moment, str):
            section.report(moment, f"exclude[{position}]")
            continue
        if _is_date(item):
            days.add(moment.date())
        elif moment.tzinfo is not None:
            times.add(moment.astimezone(get_zone(timezone)).replace(tzinfo=None))
        else:
            times.add(moment)
    if failed or section.seen_problem:
        return None
    return Filters(
        calendar=calendar,
        on_closed_day=policy,
        between=between,
        exclude_days=frozenset(days),
        exclude_times=frozenset(times),
    )


def _between(section: Section) -> tuple[time, time] | None:
    value = section.table["between"]
    example = 'between = ["08:00", "18:00"]'
    if not (isinstance(value, list) and len(value) == 2):
        section.report(
            f"expected two wall times such as {example}, got {describe(value)}", "between"
        )
        return None
    ends = []
    for position, item in enumerate(value):
        text = item if isinstance(item, str) else ""
        try:
            if len(text.strip()) != 5:
                raise ValueError(text)
            ends.append(time.fromisoformat(text.strip()))
        except ValueError:
            section.report(
                f"invalid wall time {describe(item)}: use HH:MM such as '08:00'",
                f"between[{position}]",
            )
            return None
    if ends[0] == ends[1]:
        section.report(
            f"equal ends {describe(value[0])}: the window would be empty; an end before the start spans midnight",
            "between",
        )
        return None
    return ends[0], ends[1]


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
    if kind == "rrule":
        from clocks.rrule import RRuleClock

        if not isinstance(value, str):
            section.report(
                f"expected an RRULE such as 'FREQ=DAILY;BYHOUR=9', got {describe(value)}", "rrule"
            )
            return None
        if not section.has("start"):
            section.report(
                "an rrule clock needs start (its DTSTART, a wall time such as '2026-01-01T09:00:00')"
            )
            return None
        return RRuleClock, {"rule": value}
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
