"""What the UI's history views read: a page of runs keyed on run ids, and each clock's
recent runs for the jobs page. No HTTP here: `scheduler.web.ui` renders the results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from scheduler.models import RunState
from scheduler.web.numbers import whole_number

RUNS_PAGE = 200
STRIP_RUNS = 12  # the runs of a clock the jobs page marks


async def runs_page(service: Any, query: Mapping[str, str]) -> dict[str, Any]:
    """The history, `RUNS_PAGE` runs a page, keyed on run ids (`?before=ID` older,
    `?after=ID` newer) so that a page stays put while new runs arrive; the filters
    (job, clock, state) are kept in the links. The page's template context."""
    state = query.get("state") or None
    if state is not None and state not in RunState.__members__:
        state = None
    filters = {"job": query.get("job", ""), "clock": query.get("clock", ""), "state": state or ""}
    chosen = {"job": filters["job"] or None, "clock": filters["clock"] or None, "state": state}
    before = whole_number(query.get("before"))
    after = whole_number(query.get("after")) if before is None else None
    read = service.list_runs
    if after is not None:
        records = await read(**chosen, after_id=after, limit=RUNS_PAGE + 1)
        has_newer = len(records) > RUNS_PAGE
        records = records[1:] if has_newer else records
        has_older = bool(records) and bool(await read(**chosen, before_id=records[-1].id, limit=1))
    else:
        records = await read(**chosen, before_id=before, limit=RUNS_PAGE + 1)
        has_older = len(records) > RUNS_PAGE
        records = records[:RUNS_PAGE]
        has_newer = before is not None and bool(
            await read(**chosen, after_id=records[0].id if records else before - 1, limit=1)
        )
    kept = {k: v for k, v in filters.items() if v}
    jobs = service.config.jobs
    return {
        "runs": [r.to_json() for r in records],
        "filters": filters,
        "job_names": list(jobs),
        "clock_names": sorted({c.name for job in jobs.values() for c in job.clocks}),
        "states": list(RunState.__members__),
        "newer_url": (
            "/runs?" + urlencode({**kept, "after": records[0].id if records else before})
            if has_newer
            else ""
        ),
        "older_url": "/runs?" + urlencode({**kept, "before": records[-1].id}) if has_older else "",
        "newest_url": "/runs?" + urlencode(kept) if before or after else "",
    }


async def recent_by_clock(service: Any, job: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each clock's newest runs, newest first, up to `STRIP_RUNS`: one read per job of its
    latest runs (so a clock that fired long ago, behind busier ones, may show none)."""
    limit = min(STRIP_RUNS * (len(job["clocks"]) + 1), 500)
    by_clock: dict[str, list[dict[str, Any]]] = {}
    for record in await service.list_runs(job=job["name"], limit=limit):
        if record.clock is not None:
            kept = by_clock.setdefault(record.clock, [])
            if len(kept) < STRIP_RUNS:
                kept.append(record.to_json())
    return by_clock
