"""Cron expressions (spec 2.4) over naive local wall times.

Own parser and evaluator, because no library speaks our dialect exactly: croniter lacks `5L`
and `LW`, reads `3-3` as every month, accepts reversed ranges and puts seconds last; cronsim
refuses macros and `W`. Time zones are not handled here: `clocks/cron.py` maps wall times to
instants with the DST rules of spec 2.3.

>>> expr = parse_cron("30 2 * * MON-FRI")
>>> expr.next_wall(datetime(2025, 3, 28, 3, 0))
datetime.datetime(2025, 3, 31, 2, 30)

Why this module is long: parsing and evaluating one dialect go together (each field's
rules are used by both), and the evaluator's speed depends on their shared tables.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from datetime import datetime, timedelta
from functools import lru_cache

from clocks.errors import ClockError

__all__ = ["MACROS", "CronExpression", "parse_cron"]

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_FIELDS = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (0, 7),
}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {
    "month": {name: i + 1 for i, name in enumerate(_MONTH_NAMES)},
    "day-of-week": {name: i for i, name in enumerate(_DAY_NAMES)},
}
_MONTH_TITLES = tuple(calendar.month_name[m] for m in range(1, 13))
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_FIELD_HELP = "use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first"
_HASH = re.compile(r"H(\(.*\))?(/.*)?", re.IGNORECASE)
# The Gregorian calendar repeats every 400 years: an expression that has no match within
# 401 years from any start never matches, so every search is bounded by this.
_SEARCH_YEARS = 401
_ONE_SECOND = timedelta(seconds=1)
_ONE_MINUTE = timedelta(minutes=1)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(words: list[str], conjunction: str) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


class _FieldParser:
    """Parses one field into values plus the day extensions. Raises ClockError."""

    def __init__(self, expression: str, field: str, text: str) -> None:
        self.expression = expression
        self.field = field
        self.text = text
        self.low, self.high = _BOUNDS[field]
        self.values: set[int] = set()
        self.last_day = False  # DOM L
        self.last_weekday = False  # DOM LW
        self.nearest: set[int] = set()  # DOM 15W
        self.last_of: set[int] = set()  # DOW 5L / L5
        self.nth: set[tuple[int, int]] = set()  # DOW 5#3

    def fail(self, what: str, value: str | None = None) -> ClockError:
        return ClockError(
            f"invalid cron expression '{self.expression}': {what}",
            field=self.field,
            value=self.text if value is None else value,
        )

    def parse(self) -> _FieldParser:
        if self.text == "":
            raise self.fail(f"{self.field} is empty")
        for term in self.text.split(","):
            if term == "":
                raise self.fail(f"{self.field} '{self.text}' has an empty list item")
            self._term(term)
        return self

    def number(self, token: str, term: str) -> int:
        names = _NAMES.get(self.field)
        if names is not None and token.upper() in names:
            return names[token.upper()]
        if not token.isdigit() or not token.isascii():
            if token == "":
                raise self.fail(f"{self.field} '{term}' has an empty value", term)
            kind = "a number or name" if names is not None else "a number"
            raise self.fail(f"{self.field} '{token}' is not {kind}", token)
        value = int(token)
        if not self.low <= value <= self.high:
            raise self.fail(f"{self.field} {value} is out of range {self.low}-{self.high}", token)
        return value

    def _term(self, term: str) -> None:
        upper = term.upper()
        if upper == "?":
            raise self.fail(f"'?' is not supported in {self.field}; use '*'", term)
        # Names contain H (THU, MARCH) only in the month and weekday fields.
        if _HASH.fullmatch(term) or (self.field not in _NAMES and "H" in upper):
            raise self.fail(
                f"{self.field} '{term}': 'H' hashes are not supported; write the values", term
            )
        if self.field == "day-of-month" and self._day_extension(upper):
            return
        if self.field == "day-of-week" and self._weekday_extension(term, upper):
            return
        base, slash, step_text = term.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not step_text.isascii():
                raise self.fail(
                    f"{self.field} step '{step_text}' in '{term}' is not a number", term
                )
            step = int(step_text)
            if step == 0:
                raise self.fail(
                    f"{self.field} step in '{term}' is zero; use a step of 1 or more", term
                )
        if base == "*":
            first, last = self.low, self.high
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first, last = self.number(start_text, term), self.number(end_text, term)
            if first > last:
                raise self.fail(self._reversed(first, last, term), term)
        else:
            first = self.number(base, term)
            last = self.high if slash else first
        self.values.update(range(first, last + 1, step))

    def _reversed(self, first: int, last: int, term: str) -> str:
        head = f"{first}-{self.high}" if first < self.high else f"{first}"
        tail = f"{self.low}-{last}" if last > self.low else f"{last}"
        return f"{self.field} range '{term}' is reversed; write {head},{tail}"

    def _day_extension(self, upper: str) -> bool:
        if upper == "L":
            self.last_day = True
        elif upper == "LW":
            self.last_weekday = True
        elif len(upper) > 1 and upper.endswith("W") and upper[:-1].isdigit():
            self.nearest.add(self.number(upper[:-1], upper))
        else:
            return False
        return True

    def _weekday_extension(self, term: str, upper: str) -> bool:
        if upper == "L":
            raise self.fail(
                "day-of-week 'L' needs a weekday: write 5L or L5 for the last Friday", term
            )
        if "#" in upper:
            day_text, _, nth_text = upper.partition("#")
            day = self.number(day_text, term) % 7
            if not nth_text.isdigit() or not 1 <= int(nth_text) <= 5:
                raise self.fail(
                    f"day-of-week '{term}': the week number must be 1-5 (5#3 is the third Friday)",
                    term,
                )
            self.nth.add((day, int(nth_text)))
            return True
        if len(upper) > 1 and (upper.endswith("L") or upper.startswith("L")):
            day_text = upper[:-1] if upper.endswith("L") else upper[1:]
            self.last_of.add(self.number(day_text, term) % 7)
            return True
        return False


@lru_cache(maxsize=512)
def parse_cron(expression: str) -> CronExpression:
    """Parse and validate a cron expression (spec 2.4); ClockError with a phrased message.

    >>> parse_cron("@daily").is_wildcard
    False
    """
    return CronExpression(expression)


class CronExpression:
    """A validated cron expression, evaluated over naive wall times (whole seconds).

    `next_wall(after)` is the first matching wall time strictly after `after`, or None when
    nothing matches within 401 years (never, given the 400-year Gregorian cycle).
    """

    __slots__ = (
        "_days_cache",
        "_dom_all",
        "_dom_days",
        "_dow_all",
        "_dow_days",
        "_hours",
        "_last_day",
        "_last_of",
        "_last_weekday",
        "_minutes",
        "_month_set",
        "_months",
        "_nearest",
        "_nth",
        "_seconds",
        "day_and",
        "expression",
        "fields",
        "has_seconds",
        "is_wildcard",
    )

    def __init__(self, expression: str) -> None:
        self.expression = expression
        text = expression.strip()
        if not text:
            raise ClockError(
                f"invalid cron expression '{expression}': it is empty; {_FIELD_HELP}",
                value=expression,
            )
        if text.startswith("@"):
            macro = text.lower()
            if macro == "@reboot":
                raise ClockError(
                    f"invalid cron expression '{expression}': @reboot is not supported; "
                    "use a time such as @daily or '0 0 * * *'",
                    value=expression,
                )
            if macro not in MACROS:
                raise ClockError(
                    f"invalid cron expression '{expression}': unknown macro '{text}'; use "
                    "@yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly",
                    value=expression,
                )
            text = MACROS[macro]
        parts = text.split()
        if len(parts) == 7:
            raise ClockError(
                f"invalid cron expression '{expression}': it has 7 fields and year fields are "
                f"not supported; {_FIELD_HELP}",
                value=expression,
            )
        if len(parts) not in (5, 6):
            raise ClockError(
                f"invalid cron expression '{expression}': it has {len(parts)} "
                f"field{'s' if len(parts) != 1 else ''}; {_FIELD_HELP}",
                value=expression,
            )
        self.has_seconds = len(parts) == 6
        if not self.has_seconds:
            parts.insert(0, "0")
        self.fields: tuple[str, ...] = tuple(parts)
        parsed = [
            _FieldParser(expression, name, part).parse()
            for name, part in zip(_FIELDS, parts, strict=True)
        ]
        second, minute, hour, dom, month, dow = parsed
        self._seconds = tuple(sorted(second.values))
        self._minutes = tuple(sorted(minute.values))
        self._hours = tuple(sorted(hour.values))
        self._months = tuple(sorted(month.values))
        self._month_set = tuple(m in month.values for m in range(13))
        self._dom_days = frozenset(dom.values)
        self._last_day = dom.last_day
        self._last_weekday = dom.last_weekday
        self._nearest = tuple(sorted(dom.nearest))
        self._dow_days = frozenset(d % 7 for d in dow.values)
        self._last_of = frozenset(dow.last_of)
        self._nth = frozenset(dow.nth)
        self._dom_all = self._dom_days == frozenset(range(1, 32))
        self._dow_all = self._dow_days == frozenset(range(7))
        # cronie: when either day field starts with '*', both must match; otherwise either.
        self.day_and = parts[3].startswith("*") or parts[5].startswith("*")
        # cronie: "wildcard" when the minute or the hour field starts with '*'.
        self.is_wildcard = parts[1].startswith("*") or parts[2].startswith("*")
        self._days_cache: dict[int, tuple[int, ...]] = {}
        self._check_fires()

    def __repr__(self) -> str:
        return f"CronExpression({self.expression!r})"

    # -- validation --------------------------------------------------------------------------
    def _check_fires(self) -> None:
        dom_only = self.day_and and not self.fields[3].startswith("*")
        if dom_only and not (self._last_day or self._last_weekday):
            wanted = sorted(self._dom_days | set(self._nearest))
            if all(min(wanted) > _MAX_DAYS[m - 1] for m in self._months):
                missing = [_ordinal(d) for d in wanted]
                months = [_MONTH_TITLES[m - 1] for m in self._months]
                verb = "has" if len(months) == 1 else "have"
                raise ClockError(
                    f"invalid cron expression '{self.expression}': never fires: "
                    f"{_join(months, 'and')} {verb} no {_join(missing, 'or')}",
                    field="day-of-month",
                    value=self.fields[3],
                )
        if self.next_wall(datetime(1999, 12, 31, 23, 59, 59)) is None:
            raise ClockError(
                f"invalid cron expression '{self.expression}': never fires: no day matches "
                f"day-of-month '{self.fields[3]}', month '{self.fields[4]}' and day-of-week "
                f"'{self.fields[5]}' together",
                field="day-of-month",
                value=self.fields[3],
            )

    # -- evaluation --------------------------------------------------------------------------
    def _days(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of one month, sorted."""
        key = year * 12 + month
        days = self._days_cache.get(key)
        if days is not None:
            return days
        first_weekday, length = calendar.monthrange(year, month)  # Monday = 0
        if self._dom_all and self._dow_all:
            days = tuple(range(1, length + 1))
        else:
            dom = self._dom_matches(year, month, length)
            dow = self._dow_matches(first_weekday, length)
            days = tuple(sorted(dom & dow if self.day_and else dom | dow))
        if len(self._days_cache) > 4096:
            self._days_cache.clear()
        self._days_cache[key] = days
        return days

    def _dom_matches(self, year: int, month: int, length: int) -> set[int]:
        days = {d for d in self._dom_days if d <= length}
        if self._last_day:
            days.add(length)
        if self._last_weekday or self._nearest:

            def weekday(day: int) -> int:  # Monday = 0
                return calendar.weekday(year, month, day)

            if self._last_weekday:
                last = length
                while weekday(last) >= 5:
                    last -= 1
                days.add(last)
            for target in self._nearest:
                # The weekday nearest `target`, never leaving the month (Quartz `W`).
                if target > length:
                    continue
                wd = weekday(target)
                if wd == 5:  # Saturday → Friday, or Monday when the 1st is a Saturday
                    days.add(target - 1 if target > 1 else target + 2)
                elif wd == 6:  # Sunday → Monday, or Friday when it is the last day
                    days.add(target + 1 if target < length else target - 2)
                else:
                    days.add(target)
        return days

    def _dow_matches(self, first_weekday: int, length: int) -> set[int]:
        days = set()
        plain, last_of, nth = self._dow_days, self._last_of, self._nth
        for day in range(1, length + 1):
            cron_weekday = (first_weekday + day) % 7  # Sunday = 0
            if (
                cron_weekday in plain
                or (cron_weekday in last_of and day + 7 > length)
                or (nth and (cron_weekday, (day + 6) // 7) in nth)
            ):
                days.add(day)
        return days

    def matches(self, wall: datetime) -> bool:
        """True when the naive wall time `wall` (whole second) matches the expression."""
        return (
            wall.microsecond == 0
            and self._month_set[wall.month]
            and wall.second in self._seconds
            and wall.minute in self._minutes
            and wall.hour in self._hours
            and wall.day in self._days(wall.year, wall.month)
        )

    def next_wall(self, after: datetime) -> datetime | None:
        """The first matching naive wall time strictly after `after`, or None (bounded search)."""
        if self._seconds == (0,):  # every 5-field expression: start at the next whole minute
            start = after.replace(second=0, microsecond=0, tzinfo=None) + _ONE_MINUTE
        else:
            start = after.replace(microsecond=0, tzinfo=None) + _ONE_SECOND
        year, month, day = start.year, start.month, start.day
        hour, minute, second = start.hour, start.minute, start.second
        limit = min(year + _SEARCH_YEARS, 9999)
        months, hours, minutes, seconds = self._months, self._hours, self._minutes, self._seconds
        month_set = self._month_set
        while year <= limit:
            if month > 12 or not month_set[month]:
                i = bisect_left(months, month)
                if i == len(months):
                    year += 1
                    month = months[0]
                    if year > limit:
                        break
                else:
                    month = months[i]
                day, hour, minute, second = 1, 0, 0, 0
            days = self._days(year, month)
            i = bisect_left(days, day)
            if i == len(days):
                month += 1
                day, hour, minute, second = 1, 0, 0, 0
                continue
            if days[i] != day:
                day, hour, minute, second = days[i], 0, 0, 0
            i = bisect_left(hours, hour)
            if i == len(hours):
                day += 1
                hour, minute, second = 0, 0, 0
                continue
            if hours[i] != hour:
                hour, minute, second = hours[i], 0, 0
            i = bisect_left(minutes, minute)
            if i == len(minutes):
                hour += 1
                minute, second = 0, 0
                continue
            if minutes[i] != minute:
                minute, second = minutes[i], 0
            i = bisect_left(seconds, second)
            if i == len(seconds):
                minute += 1
                second = 0
                continue
            return datetime(year, month, day, hour, minute, seconds[i])
        return None
