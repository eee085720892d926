"""Random RRULEs in UTC: the rrule clock gives dateutil's own times, from start and from any
`after` (the restart at a later period must not change a single time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from clocks.rrule import RRuleClock

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@st.composite
def rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 4))}"]
    if draw(st.booleans()):
        parts.append(
            "BYMONTH="
            + ",".join(map(str, draw(st.sets(st.integers(1, 12), min_size=1, max_size=4))))
        )
    if freq != "WEEKLY" and draw(st.booleans()):
        days = draw(st.sets(st.sampled_from([1, 2, 15, 28, 31, -1, -2]), min_size=1, max_size=3))
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if draw(st.booleans()):
        parts.append(
            "BYDAY=" + ",".join(draw(st.sets(st.sampled_from(DAYS), min_size=1, max_size=4)))
        )
    if freq in ("YEARLY", "MONTHLY", "WEEKLY", "DAILY") and draw(st.booleans()):
        parts.append(
            "BYHOUR="
            + ",".join(map(str, draw(st.sets(st.integers(0, 23), min_size=1, max_size=3))))
        )
    if freq != "MINUTELY" and draw(st.booleans()):
        parts.append(
            "BYMINUTE="
            + ",".join(map(str, draw(st.sets(st.integers(0, 59), min_size=1, max_size=3))))
        )
    if len(parts) > 2 and freq in ("YEARLY", "MONTHLY", "WEEKLY") and draw(st.booleans()):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, -1]))}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 30))}")
    return ";".join(parts)


starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda moment: moment.replace(microsecond=0)
)


@settings(max_examples=150, deadline=None)
@given(rule=rules(), start=starts, offset_days=st.integers(0, 3000), seconds=st.integers(0, 86399))
def test_the_rrule_clock_gives_dateutils_times(
    rule: str, start: datetime, offset_days: int, seconds: int
) -> None:
    clock = RRuleClock(name="r", rule=rule, start=start, timezone="UTC")
    oracle = rrulestr(rule, dtstart=start)
    expected = [moment.replace(tzinfo=UTC) for moment in islice(iter(oracle), 20)]
    got = list(islice(clock.fires(start.replace(tzinfo=UTC) - timedelta(seconds=1)), 20))
    assert got == expected
    after = start + timedelta(days=offset_days, seconds=seconds)
    following = oracle.after(after)
    assert clock.next_fire(after.replace(tzinfo=UTC)) == (
        following.replace(tzinfo=UTC) if following is not None else None
    )
