"""`scheduler.web.forms` on its own: the run form's inputs from each parameter type of a real
job, and posted text back to typed values or per-field errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scheduler.config import load_config
from scheduler.web.forms import (
    convert_form,
    field_text,
    form_fields,
    instant_to_wall,
    run_texts,
    wall_to_instant,
)

CONFIG = """
[daemon]
database = "clockd.db"
timezone = "Europe/Berlin"

[jobs.form]
command = ["true"]

[jobs.form.parameters.label]
type = "string"
maxLength = 20
description = "what the report is called"
default = "nightly"

[jobs.form.parameters.count]
type = "integer"
minimum = 1
maximum = 10

[jobs.form.parameters.ratio]
type = "number"
default = 0.5

[jobs.form.parameters.dry]
type = "boolean"
default = true

[jobs.form.parameters.day]
type = "date"
default = "{{ scheduled_time.to_date_string() }}"

[jobs.form.parameters.at]
type = "datetime"
default = "2026-07-01T10:00:00+00:00"

[jobs.form.parameters.tags]
type = "array"
items = { type = "string" }
default = ["a"]

[jobs.form.parameters.extra]
type = "object"
default = {}

[jobs.form.parameters.mode]
type = "string"
enum = ["fast", "slow"]
default = "fast"

[jobs.form.parameters.level]
type = "integer"
enum = [1, 2]
default = 1

[jobs.form.parameters.key]
type = "string"
secret = true
default = "env:KEY"
"""


# 23:30 UTC on March 1st: already March 2nd in Berlin, the form's zone
NOW = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("forms") / "clockd.toml"
    path.write_text(CONFIG)
    return load_config(path, environ={}).jobs["form"]


@pytest.fixture(scope="module")
def fields(job: Any) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in form_fields(job, "Europe/Berlin", NOW)}


def test_one_input_per_parameter_in_declaration_order(job: Any) -> None:
    names = [entry["name"] for entry in form_fields(job, "Europe/Berlin", NOW)]
    assert names == [
        "label",
        "count",
        "ratio",
        "dry",
        "day",
        "at",
        "tags",
        "extra",
        "mode",
        "level",
        "key",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "label",
            {
                "input": "text",
                "value": "nightly",
                "attrs": {"maxlength": "20"},
                "required": False,
                "description": "what the report is called",
            },
        ),
        (
            "count",
            {
                "input": "number",
                "value": "",
                "attrs": {"step": "1", "min": "1", "max": "10"},
                "required": True,
            },
        ),
        ("ratio", {"input": "number", "value": "0.5", "attrs": {"step": "any"}}),
        ("dry", {"input": "checkbox", "value": "true", "checked": True}),
        (
            "at",
            {
                "input": "datetime-local",
                "value": "2026-07-01T12:00:00",
                "attrs": {"step": "1"},
                "hint": "wall time in Europe/Berlin (or in the chosen clock's zone)",
            },
        ),
        ("tags", {"input": "json", "value": '["a"]', "placeholder": "[]"}),
        ("extra", {"input": "json", "value": "{}", "placeholder": "{}"}),
        ("mode", {"input": "select", "options": ["fast", "slow"], "value": "fast"}),
        ("level", {"input": "select", "options": ["1", "2"], "value": "1"}),
        (
            "key",
            {
                # a caller may choose only the default (the config lists no references)
                "input": "select",
                "options": ["env:KEY"],
                "secret": True,
                "value": "env:KEY",
            },
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_input_of_each_type(
    fields: dict[str, dict[str, Any]], name: str, expected: dict[str, Any]
) -> None:
    entry = fields[name]
    assert {key: entry[key] for key in expected} == expected


def test_a_dynamic_default_is_shown_rendered_for_now(fields: dict[str, dict[str, Any]]) -> None:
    day = fields["day"]
    assert day["input"] == "date"
    assert day["value"] == ""  # empty: the default applies when the form is posted
    assert day["placeholder"] == "2026-03-02"  # NOW in Berlin
    assert day["hint"] == "default now: 2026-03-02"  # the value, not the template
    assert day["hint_title"] == "computed from {{ scheduled_time.to_date_string() }}"


def test_posted_text_becomes_typed_values(job: Any) -> None:
    form = [
        ("csrf", "token"),
        ("clock", "x"),
        ("p.count", "3"),
        ("p.ratio", "0.25"),
        ("p.dry", "false"),  # the hidden field before the checkbox: the last wins
        ("p.dry", "true"),
        ("p.day", "2026-03-01"),
        ("p.at", "2026-03-29T02:30"),  # Berlin skips 02:00-03:00 that night
        ("p.tags", '["x","y"]'),
        ("p.extra", '{"k": 1}'),
        ("p.mode", "slow"),
        ("p.level", "2"),
        ("p.label", ""),  # empty: the default applies
        ("p.unknown", "1"),  # not a parameter: ignored here, refused by the service
    ]
    values, errors, texts = convert_form(job, form, "Europe/Berlin")
    assert errors == {}
    assert values == {
        "count": 3,
        "ratio": 0.25,
        "dry": True,
        "day": "2026-03-01",
        "at": "2026-03-29T01:00:00+00:00",  # the first instant after the gap, 03:00+02:00
        "tags": ["x", "y"],
        "extra": {"k": 1},
        "mode": "slow",
        "level": 2,
    }
    assert texts["at"] == "2026-03-29T02:30"  # what was typed, to show it again
    assert texts["label"] == ""
    assert "csrf" not in texts


def test_text_that_does_not_convert_is_an_error_on_its_field(job: Any) -> None:
    form = [
        ("p.count", "abc"),
        ("p.ratio", "²"),
        ("p.tags", "[1"),
        ("p.extra", "[" * 70 + "]" * 70),
        ("p.at", "2026-10-25T02:30"),  # Berlin repeats 02:00-03:00 that night: the first
    ]
    values, errors, _ = convert_form(job, form, "Europe/Berlin")
    assert values == {"at": "2026-10-25T00:30:00+00:00"}
    assert errors == {
        "count": ["parameter 'count': 'abc' is not an integer (write it like 42)"],
        "ratio": ["parameter 'ratio': '²' is not a number (write it like 42 or 2.5)"],
        "tags": [
            "parameter 'tags': '[1' is not valid JSON (expecting ',' delimiter at column 3); "
            'write an array like ["a", "b"]'
        ],
        "extra": ["parameter 'extra' is nested 70 levels deep; at most 64 are accepted"],
    }


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("json", [1, "a"], '[1, "a"]'),
        ("json", {"k": "ü"}, '{"k": "ü"}'),
        ("select", 3, "3"),
        ("select", "fast", "fast"),
        ("checkbox", True, "true"),
        ("checkbox", False, "false"),
        ("number", 0.5, "0.5"),
        ("text", None, ""),
    ],
)
def test_field_text(kind: str, value: Any, text: str) -> None:
    assert field_text(kind, value) == text


def test_wall_time_and_instants_in_a_zone() -> None:
    # The instant, written in UTC: 12:00 Berlin summer time, and 03:00+02:00 after the gap.
    assert wall_to_instant("2026-07-01T12:00", "Europe/Berlin") == "2026-07-01T10:00:00+00:00"
    assert wall_to_instant("2026-03-29T02:30", "Europe/Berlin") == "2026-03-29T01:00:00+00:00"
    assert wall_to_instant("2026-07-01T12:00+00:00", "Europe/Berlin") == "2026-07-01T12:00+00:00"
    assert wall_to_instant("not a time", "Europe/Berlin") == "not a time"
    assert instant_to_wall("2026-07-01T10:00:00Z", "Europe/Berlin") == "2026-07-01T12:00:00"
    assert instant_to_wall("2026-01-01T10:00:00+00:00", "Europe/Berlin") == "2026-01-01T11:00:00"
    assert instant_to_wall("garbage", "Europe/Berlin") == "garbage"


def test_a_past_runs_values_prefill_the_form_with_secrets_as_references(
    fields: dict[str, dict[str, Any]],
) -> None:
    parameters = {
        "label": "weekly",
        "count": 3,
        "dry": False,
        "day": "2026-02-01",
        "at": "2026-07-01T08:00:00+00:00",
        "tags": ["a", "b"],
        "level": 2,
        "key": "***",  # what a run stores of a secret
        "gone": "a parameter the job no longer declares",
    }
    texts = run_texts(list(fields.values()), parameters, {"key": "env:OTHER"}, "Europe/Berlin")
    assert texts == {
        "label": "weekly",
        "count": "3",
        "dry": "false",
        "day": "2026-02-01",
        "at": "2026-07-01T10:00:00",  # wall time in Berlin (UTC+2 in July)
        "tags": '["a", "b"]',
        "level": "2",
        "key": "env:OTHER",
    }
    no_reference = run_texts(list(fields.values()), {"key": "***"}, {}, "UTC")
    assert "key" not in no_reference  # never the mask: the default reference applies
