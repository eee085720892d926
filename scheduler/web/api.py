"""The HTTP API (spec 5), the web UI's routes, /healthz and /metrics, as one Starlette app.

    app = create_app(service, token=read_token(settings.token_file))

Every handler is `async def`: it runs on the daemon's event loop, where the service and the
executor live. A client's mistake is a 4xx with `{"error": ..., "details": [...]}`, never a 500.

Why this module is long: every route of spec 5 is declared here, one short handler each;
bodies, numbers, failures, forms and the UI are in their own modules.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from scheduler.models import RunState
from scheduler.web import metrics
from scheduler.web.auth import ADMIN, Authenticator, Principal
from scheduler.web.bodies import (
    BODY_OVERHEAD,
    UNSET,
    ApiError,
    ApiJSON,
    check_fields,
    field,
    read_json_object,
    refuse_deep_texts,
)
from scheduler.web.logstream import line_json, log_stream_response
from scheduler.web.numbers import MAX_WHOLE, whole_number

log = logging.getLogger("clockd.api")

MAX_LIMIT = 1000
# Backfill bounds lie in these years: far enough from the ends of `datetime` (years 1 and
# 9999) for any time zone and for a clock to look ahead, and a typo ("0206") is refused.
BACKFILL_YEARS = range(1900, 3000)


class Api:
    """The handlers, bound to one service."""

    def __init__(self, service: Any, auth: Authenticator) -> None:
        self.service = service
        self.auth = auth

    # helpers

    @property
    def body_limit(self) -> int:
        return int(self.service.config.daemon.max_parameters_bytes) + BODY_OVERHEAD

    def principal(self, request: Request) -> Principal:
        principal: Principal = request.scope.get("clockd.principal", ADMIN)
        return principal

    def admin_only(self, request: Request) -> None:
        if not self.principal(request).is_admin:
            raise ApiError(403, "a run's child token may only create runs and read its child runs")

    async def run_or_404(self, request: Request) -> Any:
        text = request.path_params["run_id"]
        if whole_number(text) is None:
            raise ApiError(404, f"unknown run {text[:40]!r}")
        record = await self.service.get_run(int(text))
        if record is None:
            raise ApiError(404, f"unknown run {int(text)}")
        principal = self.principal(request)
        if not principal.is_admin:
            own = principal.run_id
            allowed = (
                record.parent_id is not None
                if own is None
                else record.id == own or record.parent_id == own
            )
            if not allowed:
                raise ApiError(403, "a run's child token may only read its child runs")
        return record

    def job_or_404(self, name: str) -> Any:
        job = self.service.config.jobs.get(name)
        if job is None:
            raise ApiError(404, f"unknown job {name[:200]!r}")
        return job

    # jobs

    async def list_jobs(self, request: Request) -> Response:
        self.admin_only(request)
        return ApiJSON({"jobs": await self.service.jobs_overview()})

    async def list_daemons(self, request: Request) -> Response:
        self.admin_only(request)
        return ApiJSON({"daemons": await self.service.daemons()})

    async def get_job(self, request: Request) -> Response:
        self.admin_only(request)
        [job] = await self.service.jobs_overview(request.path_params["job"])
        return ApiJSON(job)

    async def create_run(self, request: Request) -> Response:
        job = self.job_or_404(request.path_params["job"])
        body = await read_json_object(request, self.body_limit)
        check_fields(body, {"parameters", "clock", "parent_id", "parameter_text"})
        parameters = field(body, "parameters", dict, "an object of parameter values") or {}
        clock = field(body, "clock", str, "a clock name or null")
        parent_id = field(body, "parent_id", int, "a run id or null")
        texts = field(body, "parameter_text", dict, "an object of NAME: TEXT") or {}
        refuse_deep_texts(job, texts)
        principal = self.principal(request)
        if principal.run_id is not None:
            if parent_id is not None and parent_id != principal.run_id:
                raise ApiError(403, f"this token may only start children of run {principal.run_id}")
            parent_id = principal.run_id
        if parent_id is not None and not 0 < parent_id < 2**63:
            raise ApiError(400, f"parent run {parent_id} does not exist")
        if parent_id is not None and await self.service.get_run(parent_id) is None:
            raise ApiError(400, f"parent run {parent_id} does not exist")
        if clock is not None and job.clock(clock) is None:
            known = ", ".join(c.name for c in job.clocks) or "none"
            raise ApiError(404, f"job {job.name!r} has no clock {clock[:200]!r} (clocks: {known})")
        values, problems = convert_texts(job, parameters, texts)
        trigger = "child" if parent_id is not None else "api"
        # Texts that are not of their type are refused along with every other problem of
        # the values (unexpected, missing, out of range): the service resolves the rest.
        record = await self.service.create_run(
            job.name, values, clock=clock, parent_id=parent_id, trigger=trigger, refused=problems
        )
        return ApiJSON(
            record.to_json(), status_code=201, headers={"Location": f"/api/v1/runs/{record.id}"}
        )

    # runs

    async def list_runs(self, request: Request) -> Response:
        query = request.query_params
        allowed = {"job", "clock", "state", "limit", "parent_id"}
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise ApiError(
                400,
                f"unknown query parameter {unknown[0][:80]!r}; allowed: {', '.join(sorted(allowed))}",
            )
        limit_text = query.get("limit", "100")
        if not 1 <= (whole_number(limit_text) or 0) <= MAX_LIMIT:
            raise ApiError(
                400, f"limit must be a whole number from 1 to {MAX_LIMIT}, not {limit_text[:40]!r}"
            )
        states: list[str] | None = None
        if "state" in query:
            # Every item a state: "state=" or "pending," is a mistake, not "any state".
            states = [s.strip() for s in query["state"].split(",")]
            bad = [s for s in states if s not in RunState.__members__]
            if bad:
                raise ApiError(
                    400, f"unknown state {bad[0][:40]!r}; states: {', '.join(RunState.__members__)}"
                )
        parent_text = query.get("parent_id")
        if parent_text is not None and whole_number(parent_text) is None:
            raise ApiError(
                400,
                f"parent_id must be a run id (a whole number up to {MAX_WHOLE}), "
                f"not {parent_text[:40]!r}",
            )
        parent_id = int(parent_text) if parent_text else None
        principal = self.principal(request)
        if not principal.is_admin:
            if principal.run_id is None or parent_id not in (None, principal.run_id):
                raise ApiError(403, "a run's child token may only list its own child runs")
            parent_id = principal.run_id
        records = await self.service.list_runs(
            job=query.get("job") or None,
            clock=query.get("clock") or None,
            state=states,
            parent_id=parent_id,
            limit=int(limit_text),
        )
        return ApiJSON({"runs": [r.to_json() for r in records]})

    async def get_run(self, request: Request) -> Response:
        return ApiJSON((await self.run_or_404(request)).to_json())

    async def run_logs(self, request: Request) -> Response:
        record = await self.run_or_404(request)
        follow = request.query_params.get("follow", "false").lower()
        if follow not in ("true", "false", "1", "0", "yes", "no"):
            raise ApiError(400, "follow must be true or false")
        # `after` wins over Last-Event-ID (what an EventSource sends back); each is checked.
        given = {
            "after": request.query_params.get("after"),
            "Last-Event-ID": request.headers.get("last-event-id"),
        }
        for name, text in given.items():
            if text is not None and whole_number(text) is None:
                raise ApiError(400, f"{name} must be a log line number, not {text[:40]!r}")
        after = int(given["after"] or given["Last-Event-ID"] or "0")
        if follow in ("true", "1", "yes"):
            return log_stream_response(self.service, record.id, after)
        lines = await self.service.read_log(record.id, after_seq=after)
        return ApiJSON(
            {
                "run_id": record.id,
                "state": record.state,
                "lines": [line_json(line) for line in lines],
            }
        )

    async def cancel_run(self, request: Request) -> Response:
        self.admin_only(request)
        record = await self.run_or_404(request)
        check_fields(await read_json_object(request, self.body_limit), set())
        record = await self.service.cancel(record.id)
        return ApiJSON(record.to_json())

    # pause, resume, backfill

    async def set_paused(self, request: Request) -> Response:
        self.admin_only(request)
        action = request.path_params["action"]
        if action not in ("pause", "resume"):
            raise ApiError(404, f"no such action {action[:40]!r}: pause or resume")
        check_fields(await read_json_object(request, self.body_limit), set())
        job = request.path_params["job"]
        clock = request.path_params.get("clock")
        if action == "pause":
            await self.service.pause(job, clock)
        else:
            await self.service.resume(job, clock)
        return ApiJSON(self.service.job(job))

    async def backfill(self, request: Request) -> Response:
        self.admin_only(request)
        job = self.job_or_404(request.path_params["job"])
        body = await read_json_object(request, self.body_limit)
        check_fields(body, {"clock", "from", "to", "dry_run", "parameters", "parameter_text"})
        parameters = field(body, "parameters", dict, "an object of parameter values") or {}
        texts = field(body, "parameter_text", dict, "an object of NAME: TEXT") or {}
        refuse_deep_texts(job, texts)
        given, problems = convert_texts(job, parameters, texts)
        if problems:
            from clocks.parameters import ParameterError

            unexpected = [p for p in job.parameters.check_names(given) if p.kind == "unexpected"]
            raise ParameterError([*problems, *unexpected])
        clock_name = field(body, "clock", str, "a clock name")
        if not clock_name:
            raise ApiError(400, "'clock' is required: the clock whose fires to backfill")
        clock = job.clock(clock_name)
        if clock is None:
            known = ", ".join(c.name for c in job.clocks) or "none"
            raise ApiError(
                404, f"job {job.name!r} has no clock {clock_name[:200]!r} (clocks: {known})"
            )
        bounds = {name: field(body, name, str, "a date or date-time") for name in ("from", "to")}
        for name, text in bounds.items():
            refuse_far_year(name, text)
        start = parse_moment(bounds["from"], "from", clock.timezone, end=False)
        end = parse_moment(bounds["to"], "to", clock.timezone, end=True)
        dry_run = field(body, "dry_run", bool, "true or false") or False
        entries = await self.service.backfill(
            job.name, clock_name, start, end, dry_run=dry_run, given=given
        )
        created = sum(1 for e in entries if e.get("run_id") is not None)
        return ApiJSON(
            {
                "job": job.name,
                "clock": clock_name,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "dry_run": dry_run,
                "fires": entries,
                "created": created,
                "skipped": 0 if dry_run else len(entries) - created,
            }
        )

    # service

    async def reload(self, request: Request) -> Response:
        """Re-read the config, as SIGHUP does: 200, or 422 with every problem."""
        self.admin_only(request)
        check_fields(await read_json_object(request, self.body_limit), set())
        return ApiJSON(self.service.reload())

    async def healthz(self, request: Request) -> Response:
        status = self.service.status()
        return ApiJSON(status, status_code=200 if status["status"] == "ok" else 503)

    async def metrics(self, request: Request) -> Response:
        return Response(metrics.render(self.service), media_type=metrics.CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        from scheduler.web.ui import STATIC_DIR

        return Response((STATIC_DIR / "openapi.json").read_bytes(), media_type="application/json")


def convert_texts(
    job: Any, parameters: dict[str, Any], texts: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """`parameters` with each `parameter_text` converted by its declared type (as `-p` is);
    and the problems of texts not of their type. An undeclared name keeps its text: the
    service refuses it as unexpected, with the other problems."""
    from clocks.parameters import ParameterError

    values = dict(parameters)
    problems: list[Any] = []
    for name, text in texts.items():
        if not isinstance(text, str):
            raise ApiError(400, f"'parameter_text' values must be strings ({name[:80]!r} is not)")
        if name not in job.parameters:
            values[name] = text
            continue
        try:
            values[name] = job.parameters.convert_text(name, text)
        except ParameterError as error:
            problems.extend(error.problems)
    return values, problems


def refuse_far_year(name: str, text: str | None) -> None:
    """A backfill bound outside BACKFILL_YEARS: 400 before it is parsed. Near the ends of the
    calendar (0001-01-01) a time-zone shift or a step back overflows `datetime`."""
    text = text or ""
    year = whole_number(text[:4])  # ISO 8601 starts with the year, basic or extended
    if year is not None and year not in BACKFILL_YEARS:
        raise ApiError(
            400,
            f"'{name}' {text[:40]!r} is outside the years a backfill covers: "
            f"{BACKFILL_YEARS.start} to {BACKFILL_YEARS.stop - 1}",
        )


def parse_moment(text: str | None, name: str, timezone: str, *, end: bool) -> datetime:
    """A backfill bound, read as `clockd next --after` reads a time (`clocks.localtime`): a
    date is its whole day (from its start, or to its last second), a date-time without an
    offset is wall time in the clock's zone (a gap → the first instant after it, a repeated
    hour → its first occurrence)."""
    from clocks.errors import ClockError
    from clocks.localtime import get_zone
    from clocks.localtime import parse_moment as parse_local_moment

    if not text:
        raise ApiError(400, f"'{name}' is required: a date (2026-03-01) or date-time")
    try:
        return parse_local_moment(text[:100], get_zone(timezone), end=end)
    except ClockError as error:
        raise ApiError(400, f"'{name}': {error.message}") from None


def create_app(
    service: Any,
    *,
    token: str | None = UNSET,
    child_token_check: Any = None,
) -> Starlette:
    """The daemon's HTTP app: API, UI, /healthz and /metrics.

    `token` is the API token (None: authentication off); when not given it is read from the
    config's `token_file`. Runs' child tokens are recognised by `child_token_check`, by
    default `service.child_token` and tokens from `auth.derive_child_token(token, ...)`.
    """
    from scheduler.web import ui
    from scheduler.web.auth import ApiGuard, combined_child_check, read_token
    from scheduler.web.failures import CrashGuard, exception_handlers

    if token is UNSET:
        token = read_token(service.config.daemon.token_file)
    if child_token_check is None and token is not None:
        child_token_check = combined_child_check(token, getattr(service, "child_token", None))
    auth = Authenticator(token, child_token_check)
    api = Api(service, auth)

    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
        Route("/api/v1/reload", api.reload, methods=["POST"]),
        Route("/api/v1/jobs", api.list_jobs, methods=["GET"]),
        Route("/api/v1/daemons", api.list_daemons, methods=["GET"]),
        Route("/api/v1/jobs/{job}", api.get_job, methods=["GET"]),
        Route("/api/v1/jobs/{job}/runs", api.create_run, methods=["POST"]),
        Route("/api/v1/jobs/{job}/backfill", api.backfill, methods=["POST"]),
        Route("/api/v1/jobs/{job}/{action}", api.set_paused, methods=["POST"]),
        Route("/api/v1/jobs/{job}/clocks/{clock}/{action}", api.set_paused, methods=["POST"]),
        Route("/api/v1/runs", api.list_runs, methods=["GET"]),
        Route("/api/v1/runs/{run_id}", api.get_run, methods=["GET"]),
        Route("/api/v1/runs/{run_id}/logs", api.run_logs, methods=["GET"]),
        Route("/api/v1/runs/{run_id}/cancel", api.cancel_run, methods=["POST"]),
        *ui.routes(service, auth),
        Mount("/static", app=ui.static_files(), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers=exception_handlers())
    listen_host = str(service.config.daemon.listen).rpartition(":")[0].lower()
    allowed = frozenset({listen_host, str(service.config.daemon.listen).lower()})
    app.add_middleware(ApiGuard, auth=auth, allowed_hosts=allowed)
    app.add_middleware(CrashGuard)  # added last: the outermost, it sees the guard's failures too
    app.state.service = service
    app.state.auth = auth
    return app
