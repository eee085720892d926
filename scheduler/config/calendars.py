"""`[calendars.NAME]` tables → `clocks.calendar.Calendar`, or Problems (spec 2.5).

The `holidays` package (which reads its data files) is used here, on the daemon side: each
calendar's holidays become closed dates with English names for the years around `now`,
handed to the pure clocks.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from scheduler.config.values import NAME_PATTERN, Section, describe

if TYPE_CHECKING:
    from clocks.calendar import Calendar

CALENDAR_KEYS = ("holidays", "closed", "weekend")
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Holidays are known for these years around the load (a reload moves the window).
YEARS_BEFORE, YEARS_AFTER = 5, 11


def build_calendar(section: Section, name: str, now: datetime) -> Calendar | None:
    """The calendar of `section.table`, or None when a problem was recorded."""
    from clocks.calendar import Calendar

    section.check_keys(CALENDAR_KEYS)
    if not NAME_PATTERN.match(name):
        section.report(
            f"invalid calendar name {describe(name)}: use letters, digits, '-', '_' and '.'"
        )
    closed: dict[date, str] = {}
    code = section.string("holidays", allow_empty=False)
    if isinstance(code, str):
        found = holiday_dates(
            section, code, range(now.year - YEARS_BEFORE, now.year + YEARS_AFTER + 1)
        )
        if found is not None:
            closed.update(found)
    for index, text in enumerate(section.strings("closed", ()) or ()):
        try:
            closed[date.fromisoformat(text.strip())] = f"listed in calendar '{name}'"
        except ValueError:
            section.report(
                f"invalid date {describe(text)}: use ISO 8601 such as '2026-12-24'",
                f"closed[{index}]",
            )
    weekend = set()
    for index, text in enumerate(section.strings("weekend", ("sat", "sun")) or ()):
        key = text.strip().lower()[:3]
        if key not in WEEKDAY_KEYS or len(text.strip()) < 3:
            section.report(
                f"{describe(text)} is not a weekday: use {', '.join(WEEKDAY_KEYS)}",
                f"weekend[{index}]",
            )
        else:
            weekend.add(WEEKDAY_KEYS.index(key))
    if len(weekend) == 7:
        section.report(
            "every day is a weekend day: nothing could ever fire on this calendar", "weekend"
        )
    if section.seen_problem:
        return None
    return Calendar(name=name, closed=closed, weekend=frozenset(weekend))


def holiday_dates(section: Section, code: str, years: range) -> dict[date, str] | None:
    """{date: "Thanksgiving Day (US)"} for `code` ("US", "DE-BY"), or None with a problem."""
    import holidays

    supported: Mapping[str, Any] = holidays.list_supported_countries()
    country, _, subdivision = code.strip().partition("-")
    country = country.upper()
    if country not in supported:
        close = _suggest(country, list(supported))
        hint = f" (did you mean '{close}'?)" if close else ""
        section.report(
            f"unknown country '{country}'{hint}: use an ISO 3166 code the holidays package knows, such as 'US' or 'DE'",
            "holidays",
        )
        return None
    subdivisions = [str(s) for s in supported[country]]
    if subdivision:
        match = {s.upper(): s for s in subdivisions}.get(subdivision.upper())
        if match is None:
            close = _suggest(subdivision.upper(), [s.upper() for s in subdivisions])
            hint = f" (did you mean '{country}-{close}'?)" if close else ""
            codes = ", ".join(s for s in subdivisions if s.isupper())[:200]
            section.report(
                f"unknown subdivision '{subdivision}' of {country}{hint}: use one of {codes}",
                "holidays",
            )
            return None
        subdivision = match
    probe = holidays.country_holidays(country)
    languages = list(getattr(probe, "supported_languages", ()) or ())
    english = next((lang for lang in ("en_US", "en_GB", "en") if lang in languages), None)
    if english is None:
        english = next((lang for lang in languages if lang.startswith("en")), None)
    found = holidays.country_holidays(
        country, subdiv=subdivision or None, years=years, language=english
    )
    shown = f"{country}-{subdivision}" if subdivision else country
    return {day: f"{label} ({shown})" for day, label in sorted(found.items())}


def _suggest(value: str, candidates: list[str]) -> str | None:
    """The closest code of the same length (ties: the same first letter, then A-Z)."""
    scored = [
        (difflib.SequenceMatcher(None, value, code).ratio(), code[:1] == value[:1], code)
        for code in candidates
        if len(code) == len(value)
    ]
    scored = [item for item in scored if item[0] >= 0.5]
    if not scored:
        return None
    best = max(score for score, _, _ in scored)
    return min((not first, code) for score, first, code in scored if score == best)[1]


def build_calendars(sections: list[Section], now: datetime) -> dict[str, Calendar | None]:
    """Every `[calendars.NAME]` of the files (`sections` are their `calendars` tables);
    a calendar with problems maps to None, so that its clocks are not told it is unknown."""
    calendars: dict[str, Calendar | None] = {}
    for section in sections:
        for name, table in section.table.items():
            where = Section(
                section.file,
                f"calendars.{name}",
                table if isinstance(table, dict) else {},
                section.problems,
            )
            if not isinstance(table, dict):
                where.report(f"expected a table [calendars.{name}], got {describe(table)}")
                calendars[name] = None
                continue
            if name in calendars:
                where.report(
                    f"calendar '{name}' is already defined: calendar names are unique across files"
                )
                continue
            calendars[name] = build_calendar(where, name, now)
    return calendars
