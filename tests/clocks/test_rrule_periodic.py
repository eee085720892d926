"""Random periodic RRULEs (WEEKLY or finer, no calendar-tied part) and MONTHLY ones in zones
with DST: the fast evaluators (clocks/rrule_periodic.py, clocks/rrule_monthly.py) give the
times of dateutil's walls mapped by RFC 5545 (zoneinfo fold=0, times meeting at one instant
once), from start and from any later time, and the same fires as the dateutil path of the
same clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clocks.rrule import RRuleClock
from clocks.rrule_monthly import MonthlyRule
from clocks.rrule_periodic import PeriodicRule

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Sao_Paulo")


def numbers(draw: st.DrawFn, name: str, highest: int) -> str:
    values = draw(st.sets(st.integers(0, highest), min_size=1, max_size=4))
    return f"{name}=" + ",".join(map(str, sorted(values)))


@st.composite
def periodic_rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"]))
    # INTERVALs prime to every cycle (week, day, hour, minute): no rule that never fires.
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.sampled_from([1, 11, 13]))}"]
    if draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.sets(st.sampled_from(DAYS), min_size=1))))
    if freq != "HOURLY" and draw(st.booleans()):
        parts.append(numbers(draw, "BYHOUR", 23))
    if freq == "SECONDLY" or draw(st.booleans()):
        parts.append(numbers(draw, "BYMINUTE", 59))
    if freq == "SECONDLY" or (freq == "MINUTELY" and draw(st.booleans())):
        parts.append(numbers(draw, "BYSECOND", 59))
    if freq in ("WEEKLY", "DAILY") and len(parts) > 2 and draw(st.booleans()):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, -1]))}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    return ";".join(parts)


@st.composite
def monthly_rules(draw: st.DrawFn) -> str:
    parts = ["FREQ=MONTHLY", f"INTERVAL={draw(st.integers(1, 13))}"]
    if draw(st.booleans()):
        parts.append("BYMONTH=" + ",".join(map(str, draw(st.sets(st.integers(1, 12), min_size=1)))))
    if draw(st.booleans()):
        days = draw(
            st.sets(st.sampled_from([1, 2, 13, 15, 28, 29, 30, 31, -1, -2, -31]), min_size=1)
        )
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.sets(st.sampled_from(DAYS), min_size=1))))
    for name, highest in (("BYHOUR", 23), ("BYMINUTE", 59), ("BYSECOND", 59)):
        if draw(st.booleans()):
            parts.append(numbers(draw, name, highest))
    if len(parts) > 2 and draw(st.booleans()):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, 3, -1, -2, 40, -40]))}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    return ";".join(parts)


# Starts near the DST changes of the zones above, and anywhere.
starts = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),
    st.sampled_from(
        [datetime(2026, 3, 8), datetime(2026, 10, 31), datetime(2026, 3, 28), datetime(2026, 4, 4)]
    ).flatmap(lambda day: st.integers(0, 3 * 86400).map(lambda s: day + timedelta(seconds=s))),
).map(lambda moment: moment.replace(microsecond=0))


def rfc_times(rule: str, start: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """dateutil's walls → instants by RFC 5545, each instant after the previous one."""
    last = None
    for wall in rrulestr(rule, dtstart=start):
        instant = wall.replace(tzinfo=zone).astimezone(UTC)
        if last is None or instant > last:
            last = instant
            yield instant


@settings(max_examples=150, deadline=None)
@given(
    rule=st.one_of(periodic_rules(), monthly_rules()),
    start=starts,
    zone=st.sampled_from(ZONES),
    offset=st.integers(0, 400 * 86400),
)
def test_periodic_rules_give_rfc_times_of_dateutils_walls(
    rule: str, start: datetime, zone: str, offset: int
) -> None:
    clock = RRuleClock(name="r", rule=rule, start=start, timezone=zone)
    assume(clock.periodic is not None)  # not a cycle too dense to list (4096 times)
    first = clock.start - timedelta(seconds=1)
    case = (rule, start, zone, offset)
    assert list(islice(clock.fires(first), 40)) == list(
        islice(rfc_times(rule, start, ZoneInfo(zone)), 40)
    ), case
    # From a later time: the same fires as the dateutil path of the same clock.
    slow = RRuleClock(name="r", rule=rule, start=start, timezone=zone)
    object.__setattr__(slow, "_periodic", False)
    after = clock.start + timedelta(seconds=offset)
    assert list(islice(clock.fires(after), 40)) == list(islice(slow.fires(after), 40))
    assert clock.next_fire(after) == slow.next_fire(after)
    until = after + timedelta(days=3)
    assert list(islice(clock.fires(after, until), 3000)) == list(
        islice(slow.fires(after, until), 3000)
    )


def test_the_fires_around_a_dst_change_are_dateutils_walls_mapped_by_rfc_5545() -> None:
    # Every 30 minutes across New York's 2026 spring gap and autumn fold.
    rule = "FREQ=MINUTELY;INTERVAL=30"
    zone = ZoneInfo("America/New_York")
    for start in (datetime(2026, 3, 7, 12), datetime(2026, 10, 31, 12)):
        clock = RRuleClock(name="r", rule=rule, start=start, timezone="America/New_York")
        assert clock.periodic is not None
        got = list(islice(clock.fires(clock.start - timedelta(seconds=1)), 2000))
        assert got == list(islice(rfc_times(rule, start, zone), 2000))
        gaps = {later - earlier for earlier, later in pairwise(got)}
        # Spring: 02:00 and 02:30 are 03:00 and 03:30 EDT, met again by 03:00 and 03:30 (once
        # each); autumn: 01:00 and 01:30 are their first (EDT) pass, then 02:00 EST.
        expected = timedelta(minutes=30 if start.month == 3 else 90)
        assert expected in gaps
        assert gaps <= {timedelta(minutes=30), expected}


def test_which_rules_take_a_fast_form() -> None:
    start = datetime(2026, 1, 1, 9)
    for rule in ("FREQ=MONTHLY;BYDAY=1MO", "FREQ=DAILY;BYMONTH=1", "FREQ=DAILY;COUNT=3"):
        assert RRuleClock(name="r", rule=rule, start=start).periodic is None
    for rule in (
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,12,17;BYMINUTE=0",
        "FREQ=MINUTELY;INTERVAL=10",
        "FREQ=SECONDLY;INTERVAL=13;BYDAY=MO;BYMINUTE=1,2;BYSECOND=5",
    ):
        assert isinstance(RRuleClock(name="r", rule=rule, start=start).periodic, PeriodicRule)
    monthly = RRuleClock(
        name="r", rule="FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", start=start
    )
    assert isinstance(monthly.periodic, MonthlyRule)
