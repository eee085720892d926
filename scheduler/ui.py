"""The web UI at `/`: jobs, a run form per job, run history, a run page with its live log.

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

from scheduler.auth import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Authenticator,
    is_cross_site,
    new_csrf_token,
)
from scheduler.models import RunState

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
FORM_LIMIT = 2 * 1024 * 1024


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


# --- the run form ----------------------------------------------------------------------------


def form_fields(job: Any, timezone: str) -> list[dict[str, Any]]:
    """One input per declared parameter, chosen by its type and schema."""
    from clocks.templates import is_dynamic

    fields = []
    for parameter in job.parameters:
        schema = dict(parameter.schema)
        kind = parameter.type
        default = parameter.default
        has_default = not parameter.required
        dynamic = has_default and is_dynamic(default)
        entry: dict[str, Any] = {
            "name": parameter.name,
            "type": kind,
            "description": parameter.description or schema.get("description", ""),
            "required": parameter.required,
            "secret": parameter.secret,
            "value": "",
            "placeholder": "",
            "hint": "",
            "attrs": {},
            "options": [],
            "checked": False,
        }
        if parameter.secret:
            entry["input"] = "text"
            entry["placeholder"] = "env:NAME or file:PATH"
            entry["hint"] = "a reference, resolved only where the run executes"
        elif schema.get("enum"):
            entry["input"] = "select"
            entry["options"] = [
                json.dumps(v) if not isinstance(v, str) else v for v in schema["enum"]
            ]
        elif kind == "boolean":
            entry["input"] = "checkbox"
        elif kind in ("integer", "number"):
            entry["input"] = "number"
            attrs = {"step": "1" if kind == "integer" else "any"}
            if "minimum" in schema:
                attrs["min"] = str(schema["minimum"])
            if "maximum" in schema:
                attrs["max"] = str(schema["maximum"])
            entry["attrs"] = attrs
        elif kind == "date":
            entry["input"] = "date"
        elif kind == "datetime":
            entry["input"] = "datetime-local"
            entry["attrs"] = {"step": "1"}
            entry["hint"] = f"wall time in {timezone} (or in the chosen clock's zone)"
        elif kind in ("array", "object"):
            entry["input"] = "json"
            entry["placeholder"] = "[]" if kind == "array" else "{}"
        else:
            entry["input"] = "text"
            if "maxLength" in schema:
                entry["attrs"] = {"maxlength": str(schema["maxLength"])}
        if dynamic:
            rendered = render_for_now(job, parameter, timezone)
            entry["placeholder"] = rendered or str(default)
            entry["hint"] = (
                f"default {default} → {rendered} now" if rendered else f"default {default}"
            )
        elif has_default and entry["input"] == "datetime-local":
            entry["value"] = instant_to_wall(default, timezone)
        elif has_default:
            entry["value"] = field_text(entry["input"], default)
            entry["checked"] = default is True
        fields.append(entry)
    return fields


def field_text(input_kind: str, value: Any) -> str:
    if value is None:
        return ""
    if input_kind == "json" or (input_kind == "select" and not isinstance(value, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_for_now(job: Any, parameter: Any, timezone: str) -> str:
    """A dynamic default rendered for a manual run now, or "" when it cannot be."""
    try:
        from clocks.parameters import render_context
        from clocks.templates import render

        context = render_context(
            scheduled_time=datetime.now(UTC).replace(microsecond=0),
            timezone=timezone,
            job=job.name,
            clock=None,
            run_id=None,
        )
        return str(render(parameter.default, context))
    except Exception:  # a default that needs run_id or fails: show the template instead
        return ""


def wall_to_instant(text: str, timezone: str) -> str:
    """A `datetime-local` value (wall time, no offset) → ISO 8601 with the zone's offset
    (a time in a DST gap moves to the first instant after it; a repeated one takes the
    first occurrence). Text that already has an offset, or is not a date-time, is unchanged."""
    from clocks.localtime import first_instant, get_zone

    try:
        wall = datetime.fromisoformat(text)
    except ValueError:
        return text  # convert_text phrases the problem
    if wall.tzinfo is not None:
        return text
    return first_instant(wall, get_zone(timezone)).isoformat()


def instant_to_wall(value: Any, timezone: str) -> str:
    """The reverse, to pre-fill a `datetime-local` input in `timezone`."""
    from clocks.localtime import get_zone

    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(get_zone(timezone)).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def convert_form(
    job: Any, form: list[tuple[str, str]], timezone: str = "UTC"
) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, str]]:
    """Form text → parameter values by declared type; errors by field; the text as typed.

    `datetime` fields hold wall time in `timezone` (what `datetime-local` inputs send)."""
    from clocks.parameters import ParameterError

    texts: dict[str, str] = {}
    for key, value in form:
        if key.startswith("p."):
            texts[key[2:]] = value  # the last wins: a checkbox follows its hidden "false"
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, text in texts.items():
        if name not in job.parameters:
            continue
        if text.strip() == "":
            continue  # empty: the default (or the clock's value) applies
        if job.parameters[name].type == "datetime":
            text = wall_to_instant(text.strip(), timezone)
        try:
            values[name] = job.parameters.convert_text(name, text)
        except ParameterError as error:
            errors.setdefault(name, []).extend(p.message for p in error.problems)
    return values, errors, texts


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
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > FORM_LIMIT:
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
        return self.page(request, "jobs.html", jobs=self.service.jobs())

    async def job(self, request: Request) -> Response:
        if (redirect := self.login_redirect(request)) is not None:
            return redirect
        return self.job_page(request, request.path_params["job"])

    def job_page(
        self,
        request: Request,
        name: str,
        *,
        status: int = 200,
        errors: dict[str, list[str]] | None = None,
        texts: dict[str, str] | None = None,
        form_error: str = "",
        chosen_clock: str = "",
    ) -> Response:
        job = self.service.config.jobs.get(name)
        if job is None:
            return self.page(request, "error.html", 404, message=f"unknown job {name!r}")
        timezone = self.service.config.daemon.timezone
        fields = form_fields(job, timezone)
        for entry in fields:
            if texts is not None and entry["name"] in texts:
                entry["value"] = texts[entry["name"]]
                entry["checked"] = texts[entry["name"]] == "true"
            entry["errors"] = (errors or {}).get(entry["name"], [])
        described = self.service.job(name)
        runs = [r.to_json() for r in self.service.store.list_runs(job=name, limit=20)]
        return self.page(
            request,
            "job.html",
            status,
            job=described,
            fields=fields,
            runs=runs,
            form_error=form_error,
            other_errors=[
                m for k, v in (errors or {}).items() if k not in job.parameters for m in v
            ],
            chosen_clock=chosen_clock,
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
                record = self.service.create_run(name, values, clock=clock, trigger="manual")
            except ParameterError as error:
                for problem in error.problems:
                    errors.setdefault(problem.name or "", []).append(problem.message)
            else:
                return RedirectResponse(f"/runs/{record.id}", status_code=303)
        return self.job_page(
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
            self.service.pause(job, clock)
        else:
            self.service.resume(job, clock)
        back = next((v for k, v in form if k == "back"), "/")
        return RedirectResponse(
            back if back.startswith("/") and not back.startswith("//") else "/", status_code=303
        )

    async def runs(self, request: Request) -> Response:
        if (redirect := self.login_redirect(request)) is not None:
            return redirect
        query = request.query_params
        state = query.get("state") or None
        if state is not None and state not in RunState.__members__:
            state = None
        filters = {
            "job": query.get("job", ""),
            "clock": query.get("clock", ""),
            "state": state or "",
        }
        records = self.service.store.list_runs(
            job=filters["job"] or None, clock=filters["clock"] or None, state=state, limit=200
        )
        return self.page(
            request,
            "runs.html",
            runs=[r.to_json() for r in records],
            filters=filters,
            job_names=list(self.service.config.jobs),
            states=list(RunState.__members__),
        )

    async def run(self, request: Request) -> Response:
        if (redirect := self.login_redirect(request)) is not None:
            return redirect
        text = request.path_params["run_id"]
        record = (
            self.service.store.get_run(int(text)) if text.isdigit() and len(text) < 19 else None
        )
        if record is None:
            return self.page(request, "error.html", 404, message=f"unknown run {text!r}")
        children = [
            r.to_json() for r in self.service.store.list_runs(parent_id=record.id, limit=50)
        ]
        return self.page(request, "run.html", run=record.to_json(), children=children)

    async def run_events(self, request: Request) -> Response:
        from scheduler.logstream import log_stream_response

        if not self.auth.ui_logged_in(request.cookies):
            return Response("login required", status_code=401)
        text = request.path_params["run_id"]
        record = (
            self.service.store.get_run(int(text)) if text.isdigit() and len(text) < 19 else None
        )
        if record is None:
            return Response("unknown run", status_code=404)
        after = request.headers.get("last-event-id", "0")
        return log_stream_response(self.service, record.id, int(after) if after.isdigit() else 0)

    async def cancel(self, request: Request) -> Response:
        form = await self.read_form(request)
        if isinstance(form, Response):
            return form
        text = request.path_params["run_id"]
        if not text.isdigit() or self.service.store.get_run(int(text)) is None:
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
