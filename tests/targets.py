"""Importable Python targets for the executor and pyrunner tests (`tests.targets:NAME`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from typing import Any


def describe(day: dt.date, moment: dt.datetime, count: int = 1) -> dict[str, Any]:
    """Shows the converted types: a date, an aware datetime, an integer."""
    print(f"describe day={day} count={count}", flush=True)
    return {
        "day_type": type(day).__name__,
        "day": day.isoformat(),
        "next_day": (day + dt.timedelta(days=1)).isoformat(),
        "moment_utc": moment.astimezone(dt.UTC).isoformat(),
        "moment_aware": moment.tzinfo is not None,
        "count": count,
    }


async def async_double(x: int) -> int:
    await asyncio.sleep(0.01)
    return x * 2


def boom(message: str = "boom") -> None:
    print("about to fail", flush=True)
    raise RuntimeError(message)


def returns_object() -> object:
    return object()


def context_snapshot() -> dict[str, Any]:
    from scheduler import context

    return {
        "job": context.job,
        "clock": context.clock,
        "run_id": context.run_id,
        "scheduled_time": context.scheduled_time.isoformat() if context.scheduled_time else None,
        "parameters": context.parameters,
    }


def read_secret_env(api_key: str) -> dict[str, Any]:
    """Receives the resolved secret as an argument; returns only a fingerprint of it."""
    return {
        "length": len(api_key),
        "env_matches": os.environ.get("CLOCKD_PARAM_API_KEY") == api_key,
    }


def sleep_for(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "slept"


def exit_with(code: int) -> None:
    sys.exit(code)


def big_result(size: int) -> dict[str, Any]:
    """A return value of about `size` bytes of JSON."""
    return {"blob": "x" * size}
