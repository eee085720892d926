"""`scheduler.web.charts`: the geometry of the timeline and the duration chart, times given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.web.charts import (
    LABEL_WIDTH,
    MIN_BAR_WIDTH,
    ROW_GAP,
    ROW_HEIGHT,
    Span,
    assign_rows,
    durations,
    spans_of,
    timeline,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def span(
    run_id: int,
    clock: str | None,
    start: float,
    end: float | None,
    state: str = "succeeded",
    **parameters: object,
) -> Span:
    return Span(
        run_id=run_id,
        clock=clock,
        state=state,
        started_at=T0 + timedelta(seconds=start),
        ended_at=None if end is None else T0 + timedelta(seconds=end),
        parameters=dict(parameters),
    )


@pytest.mark.parametrize(
    ("intervals", "rows"),
    [
        ([(0, 2), (2, 4), (4, 6)], [0, 0, 0]),  # back to back: one row
        ([(0, 2), (0, 2)], [0, 1]),  # simultaneous: side by side
        ([(0, 5), (1, 2), (3, 4)], [0, 1, 1]),  # a short one fits under a long one
        ([(0, 5), (1, 6), (2, 3), (5.5, 7)], [0, 1, 2, 0]),  # the first free row is reused
    ],
    ids=["back-to-back", "simultaneous", "nested", "reuse-first-free"],
)
def test_overlapping_runs_of_a_clock_go_on_separate_rows(
    intervals: list[tuple[float, float]], rows: list[int]
) -> None:
    spans = [span(n, "a", start, end) for n, (start, end) in enumerate(intervals)]
    assert assign_rows(spans, T0 + timedelta(hours=1)) == rows


def test_a_running_run_lasts_until_now_when_rows_are_assigned() -> None:
    spans = [span(1, "a", 0, None, "running"), span(2, "a", 5, 6)]
    assert assign_rows(spans, T0 + timedelta(seconds=10)) == [0, 1]
    assert assign_rows(spans, T0 + timedelta(seconds=4)) == [0, 0]


def test_the_timeline_puts_each_clock_in_a_lane_and_time_along_x() -> None:
    spans = [
        span(1, "small", 0, 2, x=9),
        span(2, "large", 0, 2, x=99),
        span(3, "small", 10, 12, x=9),
        span(4, "large", 10, 20, "failed", x=99),
        span(5, None, 5, 6, x=1),
    ]
    chart = timeline(spans, now=T0 + timedelta(seconds=30), width=1000)
    bars = {bar.run_id: bar for bar in chart.bars}
    plot = 1000 - LABEL_WIDTH - 10  # 20 s of runs over the plot's width
    assert bars[1].x == bars[2].x == LABEL_WIDTH  # the same start: the same x
    assert bars[1].y != bars[2].y  # ... side by side, in two lanes
    assert bars[1].y == bars[3].y  # one lane per clock
    assert bars[3].x == pytest.approx(LABEL_WIDTH + plot / 2)
    assert bars[4].width == pytest.approx(plot / 2)  # 10 of 20 seconds
    assert bars[4].x + bars[4].width == pytest.approx(1000 - 10)
    lane_names = [label.text for label in chart.labels if label.x == 0]
    assert lane_names == ["small", "large", "manual"]  # clocks as they first ran; manual last
    assert bars[5].y > bars[2].y
    assert bars[2].y - bars[1].y == ROW_HEIGHT + 10  # one row, then the gap between lanes
    assert bars[4].title == "#4 large · failed · 10.0s · x=99"
    assert bars[4].state == "failed"
    ticks = [label for label in chart.labels if label.x != 0]
    assert [t.text for t in ticks] == ["09:00:00", "09:00:05", "09:00:10", "09:00:15", "09:00:20"]
    assert [t.anchor for t in ticks] == ["start", "middle", "middle", "middle", "end"]
    assert chart.height == bars[5].y + ROW_HEIGHT + 10 + 22


def test_simultaneous_runs_of_one_clock_stack_in_its_lane_and_lanes_grow() -> None:
    spans = [span(1, "a", 0, 4, n=1), span(2, "a", 0, 4, n=2), span(3, "b", 0, 4)]
    bars = {bar.run_id: bar for bar in timeline(spans, now=T0).bars}
    assert bars[2].y - bars[1].y == ROW_HEIGHT + ROW_GAP
    assert bars[3].y == bars[2].y + ROW_HEIGHT + 10
    assert "n=1" in bars[1].title
    assert "n=2" in bars[2].title


def test_a_tiny_run_is_still_a_visible_bar_and_one_run_spans_a_second() -> None:
    chart = timeline([span(1, "a", 0, 0.001)], now=T0 + timedelta(seconds=1))
    [bar] = chart.bars
    assert bar.width == MIN_BAR_WIDTH
    assert timeline([], now=T0).bars == ()


def test_a_running_run_is_drawn_until_now() -> None:
    chart = timeline([span(1, "a", 0, None, "running")], now=T0 + timedelta(seconds=8), width=500)
    [bar] = chart.bars
    assert bar.width == pytest.approx(500 - LABEL_WIDTH - 10)
    assert bar.title == "#1 a · running · 8.0s so far"


def test_durations_are_bars_against_the_longest_oldest_first() -> None:
    spans = [
        span(3, "a", 20, 21),
        span(1, "a", 0, 4),
        span(2, "b", 10, 12, "failed"),
        span(4, "a", 30, None, "running"),  # not finished: not drawn
    ]
    chart = durations(spans, width=1000, height=100)
    assert [bar.run_id for bar in chart.bars] == [1, 2, 3]
    heights = [bar.height for bar in chart.bars]
    assert heights == [100, 50, 25]
    assert [bar.y for bar in chart.bars] == [0, 50, 75]  # standing on the axis
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs)
    assert xs[0] >= LABEL_WIDTH
    assert chart.labels[0].text == "4.0s"  # the axis' top is the longest run
    assert durations([span(1, "a", 0, None, "running")]).bars == ()


def test_spans_come_from_the_runs_json_and_skip_runs_that_never_started() -> None:
    runs = [
        {
            "id": 1,
            "clock": "a",
            "state": "succeeded",
            "started_at": "2026-03-01T09:00:00+00:00",
            "ended_at": "2026-03-01T09:00:02+00:00",
            "parameters": {"x": 1},
        },
        {"id": 2, "clock": None, "state": "pending", "started_at": None, "ended_at": None},
    ]
    assert spans_of(runs) == [span(1, "a", 0, 2, x=1)]
