"""The run form of the web UI: inputs built from a job's declared parameters, and the
posted text converted back to parameter values.

No HTTP here: `scheduler.web.ui` renders these fields and hands the posted pairs to
`convert_form`, so the form logic can be tested without a server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from scheduler.web.nesting import too_deep


def form_fields(job: Any, timezone: str, now: datetime) -> list[dict[str, Any]]:
    """One input per declared parameter, chosen by its type and schema; a dynamic default is
    shown as it renders for a run at `now`."""
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
            "hint_title": "",
            "attrs": {},
            "options": [],
            "checked": False,
        }
        if parameter.secret and parameter.choices:
            # Only the references the config lists are accepted at trigger time (spec 2.1).
            entry["input"] = "select"
            entry["options"] = list(parameter.choices)
            entry["hint"] = "a reference the config lists, resolved only where the run executes"
        elif parameter.secret:
            entry["input"] = "text"
            entry["placeholder"] = "set by the config's clocks only"
            entry["hint"] = "the config lists no references a run may choose"
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
            rendered = render_for_now(job, parameter, timezone, now)
            entry["placeholder"] = rendered or str(default)
            # The value a run started now would get; the template itself is a tooltip.
            entry["hint"] = f"default now: {rendered}" if rendered else "default: computed per run"
            entry["hint_title"] = f"computed from {default}"
        elif has_default and entry["input"] == "datetime-local":
            entry["value"] = instant_to_wall(default, timezone)
        elif has_default:
            entry["value"] = field_text(entry["input"], default)
            entry["checked"] = default is True
        fields.append(entry)
    return fields


def run_texts(
    fields: list[dict[str, Any]],
    parameters: dict[str, Any],
    secret_refs: dict[str, str],
    timezone: str,
) -> dict[str, str]:
    """A past run's values as the form's text ("Run again with these values"). A secret is
    prefilled with its reference (`env:X`), never a value; a run's stored value of a secret
    is only its mask. Parameters the job no longer declares are left out."""
    texts: dict[str, str] = {}
    for entry in fields:
        name = entry["name"]
        if entry["secret"]:
            if name in secret_refs:
                texts[name] = secret_refs[name]
        elif name in parameters:
            value = parameters[name]
            if entry["input"] == "datetime-local" and value is not None:
                texts[name] = instant_to_wall(value, timezone)
            else:
                texts[name] = field_text(entry["input"], value)
    return texts


def field_text(input_kind: str, value: Any) -> str:
    if value is None:
        return ""
    if input_kind == "json" or (input_kind == "select" and not isinstance(value, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_for_now(job: Any, parameter: Any, timezone: str, now: datetime) -> str:
    """A dynamic default rendered for a manual run at `now`, or "" when it cannot be."""
    try:
        from clocks.parameters import render_context
        from clocks.templates import render

        context = render_context(
            scheduled_time=now.astimezone(UTC).replace(microsecond=0),
            timezone=timezone,
            job=job.name,
            clock=None,
            run_id=None,
        )
        return str(render(parameter.default, context))
    except Exception:  # a default that needs run_id or fails: show the template instead
        return ""


def wall_to_instant(text: str, timezone: str) -> str:
    """A `datetime-local` value (wall time, no offset) → the instant it means in `timezone`,
    ISO 8601 in UTC (a time in a DST gap moves to the first instant after it; a repeated one
    takes the first occurrence). Text that already has an offset, or is not a date-time, is unchanged."""
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
        kind = job.parameters[name].type
        deep = too_deep(name, kind, text)
        if deep is not None:
            errors.setdefault(name, []).append(deep)
            continue
        if kind == "datetime":
            text = wall_to_instant(text.strip(), timezone)
        try:
            values[name] = job.parameters.convert_text(name, text)
        except ParameterError as error:
            errors.setdefault(name, []).extend(p.message for p in error.problems)
    return values, errors, texts
