"""The web UI at `/`: jobs, a run form per job, run history, a run page with its live log.

The routes and pages live here; the run form (fields from the parameters' JSON Schema,
posted text back to values) lives in `scheduler.web.forms`, the history's pages in
`scheduler.web.history`, the job page's SVG charts in `scheduler.web.charts`.

Server-rendered Jinja2 (autoescape on) and plain forms; a little JS for the live log and
for filling the form from a clock's values. Form posts carry a CSRF token (cookie + hidden
field) and are refused when the browser says they are cross-site. With a token, the UI
asks for it once and keeps an HttpOnly, SameSite=Strict session cookie.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from scheduler.web.auth import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Authenticator,
    is_cross_site,
    new_csrf_token,
)
from scheduler.web.charts import durations, spans_of, timeline
from scheduler.web.forms import convert_form, field_text, form_fields, run_texts
from scheduler.web.history import recent_by_clock, runs_page
from scheduler.web.numbers import whole_number

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
FORM_LIMIT = 2 * 1024 * 1024
CHART_RUNS = 100  # the runs a job page draws


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,  # everything the UI shows is escaped (spec 6)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_text"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
    env.filters["when"] = format_time
    env.filters["duration"] = format_duration
    return env


def format_time(value: Any) -> str:
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(run: dict[str, Any]) -> str:
    if not run.get("started_at"):
        return "—"
    start = datetime.fromisoformat(run["started_at"])
    end = datetime.fromisoformat(run["ended_at"]) if run.get("ended_at") else datetime.now(UTC)
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s"


# --- routes ----------------------------------------------------------------------------------


class Ui:
    def __init__(self, service: Any, auth: Authenticator) -> None:
        self.service = service
        self.auth = auth
        self.env = _environment()

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
        html = self.env.get_template(template).render(
            csrf=csrf, auth_enabled=self.auth.enabled, path=request.url.path, **context
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.cookies.get(CSRF_COOKIE) != csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/")
        return response

    def login_redirect(self, request: Request) -> Response | None:
        if self.auth.ui_logged_in(request.cookies):
            return None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    async def read_form(self, request: Request) -> list[tuple[str, str]] | Response:
        """A checked form post: logged in, same-site, matching CSRF token."""
        if is_cross_site(request.headers):
            return self.page(
                request, "error.html", 403, message="cross-site form posts are refused"
            )
        length = whole_number(request.headers.get("content-length", "0"))
        if length is None or length > FORM_LIMIT:
            return self.page(request, "error.html", 413, message="form too large")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_LIMIT:
                return self.page(request, "error.html", 413, message="form too large")
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
        except (UnicodeDecodeError, ValueError):
            return self.page(request, "error.html", 400, message="malformed form")
        sent = next((v for k, v in form if k == CSRF_FIELD), "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        import hmac

        if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
            return self.page(
                request,
                "error.html",
                403,
                message="the form's CSRF token did not match; reload the page and try again",
            )
        if not self.auth.ui_logged_in(request.cookies):
            return RedirectResponse("/login", status_code=303)
        return form

    # pages

    async def jobs(self, request: Request) -> Response:
        if (redirect := self.login_redirect(request)) is not None:
            return redirect
        jobs = self.service.jobs()
        recent = {job["name"]: await recent_by_clock(self.service, job) for job in jobs}
        return self.page(request, "jobs.html", jobs=jobs, recent=recent)

    async def job(self, request: Request) -> Response:
        if (redirect := self.login_redirect(request)) is not None:
            return redirect
        name = request.path_params["job"]
        again = whole_number(request.query_params.get("from_run"))
        record = await self.service.get_run(again) if again is not None else None
        if record is None or record.job != name:
            return await self.job_page(request, name)
        return await self.job_page(request, name, from_run=record)

    async def job_page(
        self,
        request: Request,
        name: str,
        *,
        status: int = 200,
        errors: dict[str, list[str]] | None = None,
        texts: dict[str, str] | None = None,
        form_error: str = "",
        chosen_clock: str = "",
        from_run: Any = None,
    ) -> Response:
        job = self.service.config.jobs.get(name)
        if job is None:
            return self.page(request, "error.html", 404, message=f"unknown job {name!r}")
        timezone = self.service.config.daemon.timezone
        fields = form_fields(job, timezone, self.service.time_source.now())
        if from_run is not None:  # "Run again with these values"
            chosen_clock = from_run.clock if job.clock(from_run.clock or "") else ""
            clock_obj = job.clock(chosen_clock) if chosen_clock else None
            texts = run_texts(
                fields,
                from_run.parameters,
                from_run.secret_refs,
                clock_obj.timezone if clock_obj else timezone,
            )
        for entry in fields:
            if texts is not None and entry["name"] in texts:
                entry["value"] = texts[entry["name"]]
                entry["checked"] = texts[entry["name"]] == "true"
            entry["errors"] = (errors or {}).get(entry["name"], [])
        described = self.service.job(name)
        runs = [r.to_json() for r in await self.service.list_runs(job=name, limit=CHART_RUNS)]
        spans = spans_of(runs)
        now = self.service.time_source.now()
        return self.page(
            request,
            "job.html",
            status,
            job=described,
            fields=fields,
            runs=runs[:20],
            timeline=timeline(spans, now=now),
            durations=durations(spans),
            chart_runs=len(spans),
            form_error=form_error,
            other_errors=[
                m for k, v in (errors or {}).items() if k not in job.parameters for m in v
            ],
            chosen_clock=chosen_clock,
            from_run=from_run.id if from_run is not None else None,
            clock_values={
                c["name"]: {
                    k: field_text(
                        "json" if not isinstance(v, str | int | float | bool) else "text", v
                    )
                    for k, v in c["parameters"].items()
                }
                for c in described["clocks"]
            },
        )

    async def submit_run(self, request: Request) -> Response:
        from clocks.parameters import ParameterError

        form = await self.read_form(request)
        if isinstance(form, Response):
            return form
        name = request.path_params["job"]
        job = self.service.config.jobs.get(name)
        if job is None:
            return self.page(request, "error.html", 404, message=f"unknown job {name!r}")
        clock = next((v for k, v in form if k == "clock"), "") or None
        clock_obj = job.clock(clock) if clock is not None else None
        # datetime fields are wall time in the chosen clock's zone, else the daemon's
        zone = clock_obj.timezone if clock_obj else self.service.config.daemon.timezone
        values, errors, texts = convert_form(job, form, zone)
        if clock is not None and clock_obj is None:
            errors.setdefault("", []).append(f"unknown clock {clock!r}")
        if not errors:
            try:
                record = await self.service.create_run(name, values, clock=clock, trigger="manual")
            except ParameterError as error:
                for problem in error.problems:
                    errors.setdefault(problem.name or "", []).append(problem.message)
            else:
                return RedirectResponse(f"/runs/{record.id}", status_code=303)
        return await self.job_page(
            request,
            name,
            status=422,
            errors=errors,
            texts=texts,
            form_error="the run was not created: see the fields marked below",
            chosen_clock=clock or "",
        )

    async def toggle_pause(self, request: Request) -> Response:
        form = await self.read_form(request)
        if isinstance(form, Response):
            return form
        job = request.path_params["job"]
        clock = request.path_params.get("clock")
        action = request.path_params["action"]
        if action not in ("pause", "resume"):
            return self.page(request, "error.html", 404, message=f"no such action {action!r}")
        if action == "pause":
            await self.service.pause(job, clock)
        else:
            await self.service.resume(job, clock)
        back = next((v for k, v in form if k == "back"), "/")
        return RedirectResponse(
            back if back.startswith("/") and not back.startswith("//") else "/", status_code=303
        )

    async def runs(self, request: Request) -> Response:
        if (redirect := self.login_redirect(request)) is not None:
            return redirect
        return self.page(
            request, "runs.html", **await runs_page(self.service, request.query_params)
        )

    async def run(self, request: Request) -> Response:
        if (redirect := self.login_redirect(request)) is not None:
            return redirect
        text = request.path_params["run_id"]
        number = whole_number(text)
        record = await self.service.get_run(number) if number is not None else None
        if record is None:
            return self.page(request, "error.html", 404, message=f"unknown run {text!r}")
        children = [
            r.to_json() for r in await self.service.list_runs(parent_id=record.id, limit=50)
        ]
        return self.page(request, "run.html", run=record.to_json(), children=children)

    async def run_events(self, request: Request) -> Response:
        from scheduler.web.logstream import log_stream_response

        if not self.auth.ui_logged_in(request.cookies):
            return Response("login required", status_code=401)
        text = request.path_params["run_id"]
        number = whole_number(text)
        record = await self.service.get_run(number) if number is not None else None
        if record is None:
            return Response("unknown run", status_code=404)
        # A Last-Event-ID that is not a line number starts from the beginning: the browser's
        # EventSource sends back what the stream gave it, so anything else is not ours.
        after = whole_number(request.headers.get("last-event-id")) or 0
        return log_stream_response(self.service, record.id, after)

    async def cancel(self, request: Request) -> Response:
        form = await self.read_form(request)
        if isinstance(form, Response):
            return form
        text = request.path_params["run_id"]
        if whole_number(text) is None or await self.service.get_run(int(text)) is None:
            return self.page(request, "error.html", 404, message=f"unknown run {text!r}")
        await self.service.cancel(int(text))
        return RedirectResponse(f"/runs/{int(text)}", status_code=303)

    # login

    async def login_form(self, request: Request) -> Response:
        return self.page(
            request, "login.html", next=safe_next(request.query_params.get("next")), failed=False
        )

    async def login(self, request: Request) -> Response:
        if is_cross_site(request.headers):
            return self.page(
                request, "error.html", 403, message="cross-site form posts are refused"
            )
        body = (await request.body())[:8192]
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        target = safe_next(form.get("next"))
        session = self.auth.check_login(form.get("token", ""))
        if session is None:
            return self.page(request, "login.html", 401, next=target, failed=self.auth.enabled)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, session, max_age=30 * 86400, httponly=True, samesite="strict", path="/"
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = await self.read_form(request)
        if isinstance(form, Response):
            return form
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def routes(service: Any, auth: Authenticator) -> list[Route]:
    ui = Ui(service, auth)
    return [
        Route("/", ui.jobs, methods=["GET"]),
        Route("/login", ui.login_form, methods=["GET"]),
        Route("/login", ui.login, methods=["POST"]),
        Route("/logout", ui.logout, methods=["POST"]),
        Route("/jobs/{job}", ui.job, methods=["GET"]),
        Route("/jobs/{job}/runs", ui.submit_run, methods=["POST"]),
        Route("/jobs/{job}/{action}", ui.toggle_pause, methods=["POST"]),
        Route("/jobs/{job}/clocks/{clock}/{action}", ui.toggle_pause, methods=["POST"]),
        Route("/runs", ui.runs, methods=["GET"]),
        Route("/runs/{run_id}", ui.run, methods=["GET"]),
        Route("/runs/{run_id}/events", ui.run_events, methods=["GET"]),
        Route("/runs/{run_id}/cancel", ui.cancel, methods=["POST"]),
    ]
