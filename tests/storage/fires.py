"""A fire's new run, as the store tests write them."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.storage.records import NewRun

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def fire(
    clock: str = "nightly",
    at: datetime = T0,
    *,
    trigger: str = "clock",
    job: str = "report",
    **extra: object,
) -> NewRun:
    return NewRun(
        job=job,
        clock=clock,
        trigger=trigger,
        scheduled_time=at,
        parameters={"x": 9, "api_key": "***"},
        secret_refs={"api_key": "env:KEY"},
        **extra,
    )  # type: ignore[arg-type]
