"""The geometry of the job page's charts, drawn server-side as inline SVG (no JS library).

    chart = timeline(spans, now=now)          # runs per clock as bars over time
    chart = durations(spans)                  # one bar per run, its height its duration

Pure: runs come in as `Span`s, the time as an argument; the result is numbers and texts
that `templates/_charts.html` writes out as SVG elements (escaped like the rest of the UI).

In the timeline each clock has a lane; runs of a clock that overlap in time go on separate
rows of its lane, so simultaneous runs (a clock that does not wait, several manual runs)
are seen side by side, and each bar's title names its parameter values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

WIDTH = 960  # the SVG's own units; CSS scales it to the card
LABEL_WIDTH = 110  # room on the left for lane names
ROW_HEIGHT = 16
ROW_GAP = 4
LANE_GAP = 10
AXIS_HEIGHT = 22
MIN_BAR_WIDTH = 3.0  # a run of a few milliseconds is still a mark one can point at
TICKS = 5
DURATION_HEIGHT = 120
MANUAL_LANE = "manual"  # runs without a clock


@dataclass(frozen=True)
class Span:
    """What a chart needs of one run."""

    run_id: int
    clock: str | None
    state: str
    started_at: datetime
    ended_at: datetime | None  # None while it runs
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    run_id: int
    state: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor: start, middle, end


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]  # lane names and axis texts
    gridlines: tuple[float, ...]  # x of each time tick


def describe_values(parameters: dict[str, Any]) -> str:
    """`x=9 region=us` (secrets arrive already masked)."""
    import json

    return " ".join(
        f"{name}={value if isinstance(value, str) else json.dumps(value)}"
        for name, value in parameters.items()
    )


def seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s"


def _title(span: Span, end: datetime) -> str:
    lane = span.clock or MANUAL_LANE
    took = seconds_text((end - span.started_at).total_seconds())
    values = describe_values(span.parameters)
    running = " so far" if span.ended_at is None else ""
    return f"#{span.run_id} {lane} · {span.state} · {took}{running}" + (
        f" · {values}" if values else ""
    )


def assign_rows(spans: list[Span], now: datetime) -> list[int]:
    """Each span's row within its lane: the first row whose last run ended by its start
    (spans in start order; a running span lasts until `now`)."""
    row_ends: list[datetime] = []
    rows = []
    for span in spans:
        end = span.ended_at or now
        for index, row_end in enumerate(row_ends):
            if row_end <= span.started_at:
                row_ends[index] = end
                rows.append(index)
                break
        else:
            row_ends.append(end)
            rows.append(len(row_ends) - 1)
    return rows


def _time_text(moment: datetime, whole_days: bool) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%m-%d %H:%M" if whole_days else "%H:%M:%S")


def timeline(spans: list[Span], *, now: datetime, width: float = WIDTH) -> Chart:
    """Runs per clock as horizontal bars over time, from the first start to the last end
    (or `now` while one runs). Lanes in order of the clock's first run; manual runs last."""
    if not spans:
        return Chart(width, 0, (), (), ())
    ordered = sorted(spans, key=lambda s: (s.started_at, s.run_id))
    first = ordered[0].started_at
    last = max(s.ended_at or now for s in ordered)
    total = max((last - first).total_seconds(), 1.0)
    plot = width - LABEL_WIDTH - 10

    def x_of(moment: datetime) -> float:
        return LABEL_WIDTH + (moment - first).total_seconds() / total * plot

    lanes: dict[str, list[Span]] = {}
    for span in ordered:
        lanes.setdefault(span.clock or MANUAL_LANE, []).append(span)
    if MANUAL_LANE in lanes:
        lanes[MANUAL_LANE] = lanes.pop(MANUAL_LANE)
    bars: list[Bar] = []
    labels: list[Label] = []
    top = 0.0
    for name, members in lanes.items():
        rows = assign_rows(members, now)
        for span, row in zip(members, rows, strict=True):
            end = span.ended_at or now
            x = x_of(span.started_at)
            bars.append(
                Bar(
                    x=round(x, 2),
                    y=top + row * (ROW_HEIGHT + ROW_GAP),
                    width=round(max(x_of(end) - x, MIN_BAR_WIDTH), 2),
                    height=ROW_HEIGHT,
                    run_id=span.run_id,
                    state=span.state,
                    title=_title(span, end),
                )
            )
        labels.append(Label(0, top + ROW_HEIGHT - 4, name))
        top += (max(rows) + 1) * (ROW_HEIGHT + ROW_GAP) - ROW_GAP + LANE_GAP
    whole_days = total >= 86400
    gridlines = []
    for tick in range(TICKS):
        moment = first + (last - first) * (tick / (TICKS - 1))
        x = round(x_of(moment), 2)
        gridlines.append(x)
        anchor = "start" if tick == 0 else "end" if tick == TICKS - 1 else "middle"
        labels.append(Label(x, top + AXIS_HEIGHT - 6, _time_text(moment, whole_days), anchor))
    return Chart(width, top + AXIS_HEIGHT, tuple(bars), tuple(labels), tuple(gridlines))


def durations(spans: list[Span], *, width: float = WIDTH, height: float = DURATION_HEIGHT) -> Chart:
    """One bar per finished run, oldest on the left, its height its duration against the
    longest; the axis label says the longest."""
    finished = sorted(
        (s for s in spans if s.ended_at is not None), key=lambda s: (s.started_at, s.run_id)
    )
    if not finished:
        return Chart(width, 0, (), (), ())
    taken = [(s.ended_at - s.started_at).total_seconds() for s in finished]  # type: ignore[operator]
    longest = max(max(taken), 0.001)
    plot = width - LABEL_WIDTH - 10
    slot = plot / len(finished)
    bar_width = max(min(slot * 0.8, 24.0), 1.0)
    bars = []
    for index, (span, seconds) in enumerate(zip(finished, taken, strict=True)):
        bar_height = max(seconds / longest * height, 1.0)
        bars.append(
            Bar(
                x=round(LABEL_WIDTH + index * slot + (slot - bar_width) / 2, 2),
                y=round(height - bar_height, 2),
                width=round(bar_width, 2),
                height=round(bar_height, 2),
                run_id=span.run_id,
                state=span.state,
                title=_title(span, span.ended_at),  # type: ignore[arg-type]
            )
        )
    labels = (Label(0, 12, seconds_text(longest)), Label(0, height, "0s"))
    return Chart(width, height + 4, tuple(bars), labels, ())


def spans_of(runs: list[dict[str, Any]]) -> list[Span]:
    """Spans of the runs (spec 3 JSON) that have started."""
    return [
        Span(
            run_id=run["id"],
            clock=run["clock"],
            state=run["state"],
            started_at=datetime.fromisoformat(run["started_at"]),
            ended_at=datetime.fromisoformat(run["ended_at"]) if run.get("ended_at") else None,
            parameters=run.get("parameters") or {},
        )
        for run in runs
        if run.get("started_at")
    ]
