"""APScheduler's timer, armed early and finished with a precise sleep: a real event loop."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from scheduler.scheduling.ontime import LEAD, OnTimeScheduler


def test_a_job_runs_at_its_time_never_before_and_the_timer_is_armed_early() -> None:
    async def main() -> tuple[list[float], float, float, float]:
        loop = asyncio.get_running_loop()
        ran: list[float] = []
        done = asyncio.Event()

        async def job() -> None:
            ran.append(time.time())
            done.set()

        scheduler = OnTimeScheduler(timezone="UTC")
        scheduler.start()
        due = datetime.now(UTC) + timedelta(milliseconds=300)
        scheduler.add_job(job, "date", run_date=due)
        await asyncio.sleep(0.05)  # the scheduler's pass after add_job armed the timer
        armed_at, asked = scheduler._timeout.when(), loop.time()  # type: ignore[union-attr]
        left = (due - datetime.now(UTC)).total_seconds()
        await asyncio.wait_for(done.wait(), 5)
        scheduler.shutdown(wait=False)
        return ran, due.timestamp(), armed_at - asked, left

    ran, due, armed_in, left = asyncio.run(main())
    assert len(ran) == 1
    assert ran[0] >= due  # APScheduler would not run it early; the precise sleep ends on time
    assert ran[0] - due < 0.25  # and not a whole pass late (a loose bound for a busy machine)
    # the loop's timer goes off LEAD before the job is due; the last stretch is the sleep
    assert abs(armed_in - (left - LEAD)) < 0.02, (armed_in, left)


def test_a_pass_that_finds_nothing_due_yet_arms_again_and_the_job_still_runs_once() -> None:
    async def main() -> list[float]:
        ran: list[float] = []

        def job() -> None:
            ran.append(time.time())

        scheduler = OnTimeScheduler(timezone="UTC")
        scheduler.start()
        due = datetime.now(UTC) + timedelta(milliseconds=100)
        scheduler.add_job(job, "date", run_date=due)
        # the timer goes off before the job is due (as when the wall clock lags the loop's)
        scheduler._on_time(asyncio.get_running_loop().time())
        assert ran == []
        await asyncio.sleep(0.4)
        scheduler.shutdown(wait=False)
        return ran

    ran = asyncio.run(main())
    assert len(ran) == 1
