"""clocks.parameters: declarations, resolution of a run's values (spec 2.1), refusals in words."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, date, datetime
from typing import Any

import pytest

from clocks.errors import ClockError
from clocks.parameters import (
    MISSING,
    TYPES,
    Parameter,
    ParameterError,
    ParameterProblem,
    ParameterSet,
    ResolvedParameters,
    render_context,
    summary_messages,
)

YESTERDAY = "{{ scheduled_time.subtract(days=1).to_date_string() }}"


def context_at(iso: str, timezone: str = "UTC", clock: str | None = "small") -> dict[str, Any]:
    return render_context(
        scheduled_time=datetime.fromisoformat(iso),
        timezone=timezone,
        job="report",
        clock=clock,
        run_id=None,
    )


CONTEXT = context_at("2026-03-01T00:00:00+00:00")


def declare(**declarations: dict[str, Any]) -> ParameterSet:
    return ParameterSet.from_declarations(declarations)


def problems_of(
    parameters: ParameterSet, *layers: dict[str, Any], context: dict[str, Any] = CONTEXT
) -> list[ParameterProblem]:
    with pytest.raises(ParameterError) as caught:
        parameters.resolve(*layers, context=context)
    return caught.value.problems


def refusal(
    parameters: ParameterSet, *layers: dict[str, Any], context: dict[str, Any] = CONTEXT
) -> str:
    with pytest.raises(ParameterError) as caught:
        parameters.resolve(*layers, context=context)
    return str(caught.value)


# -- the spec's example job -----------------------------------------------------------

REPORT = declare(
    x={"type": "integer", "description": "how many", "minimum": 0},
    day={"type": "date", "default": YESTERDAY},
    api_key={"type": "string", "secret": True, "default": "env:REPORT_API_KEY"},
)


def test_spec_example_resolves_per_clock() -> None:
    small = REPORT.resolve({"x": 9}, context=CONTEXT)
    large = REPORT.resolve({"x": 99}, context=CONTEXT)
    assert small.values == {"x": 9, "day": "2026-02-28", "api_key": "env:REPORT_API_KEY"}
    assert large.values == {"x": 99, "day": "2026-02-28", "api_key": "env:REPORT_API_KEY"}
    assert small.masked() == {"x": 9, "day": "2026-02-28", "api_key": "***"}
    assert small.secrets == frozenset({"api_key"})


def test_the_collection() -> None:
    assert REPORT.names == ("x", "day", "api_key")
    assert [p.name for p in REPORT] == ["x", "day", "api_key"]
    assert len(REPORT) == 3
    assert "x" in REPORT
    assert "dummy" not in REPORT
    assert REPORT["x"] == Parameter(
        "x", "integer", {"type": "integer", "minimum": 0}, MISSING, False, "how many"
    )
    assert REPORT["x"].required
    assert not REPORT["day"].required
    assert REPORT["day"].is_dynamic
    assert REPORT == declare(
        x={"type": "integer", "description": "how many", "minimum": 0},
        day={"type": "date", "default": YESTERDAY},
        api_key={"type": "string", "secret": True, "default": "env:REPORT_API_KEY"},
    )
    assert REPORT != declare(x={"type": "integer"})
    twin = ParameterSet(list(REPORT))
    assert twin == REPORT
    assert hash(twin) == hash(REPORT)
    assert TYPES == (
        "string",
        "integer",
        "number",
        "boolean",
        "date",
        "datetime",
        "array",
        "object",
    )


def test_missing_is_one_sentinel_through_copy_and_pickle() -> None:
    assert copy.deepcopy(MISSING) is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert repr(MISSING) == "MISSING"


# -- precedence -------------------------------------------------------------------------

PRECEDENCE = declare(
    a={"type": "string", "default": "default"},
    b={"type": "string", "default": "default"},
    c={"type": "string", "default": "default"},
)


@pytest.mark.parametrize(
    ("clock", "trigger", "expected"),
    [
        ({}, {}, {"a": "default", "b": "default", "c": "default"}),
        ({"a": "clock"}, {}, {"a": "clock", "b": "default", "c": "default"}),
        (
            {"a": "clock", "b": "clock"},
            {"b": "trigger"},
            {"a": "clock", "b": "trigger", "c": "default"},
        ),
        ({}, {"c": "trigger"}, {"a": "default", "b": "default", "c": "trigger"}),
    ],
    ids=["defaults", "clock-over-default", "trigger-over-clock", "trigger-over-default"],
)
def test_precedence_default_then_clock_then_trigger(
    clock: dict[str, Any], trigger: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert PRECEDENCE.resolve(clock, trigger, context=CONTEXT).values == expected


def test_none_and_empty_layers_are_ignored() -> None:
    assert PRECEDENCE.resolve(None, {}, {"a": "x"}, None, context=CONTEXT).values["a"] == "x"


def test_values_come_out_in_declaration_order() -> None:
    assert list(PRECEDENCE.resolve({"c": "1", "a": "2"}, context=CONTEXT).values) == ["a", "b", "c"]


def test_resolve_does_not_change_the_layers() -> None:
    layer = {"x": 1.0}
    assert declare(x={"type": "integer"}).resolve(layer, context=CONTEXT).values == {"x": 1}
    assert layer == {"x": 1.0}


# -- dynamic values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduled_time", "timezone", "expected"),
    [
        ("2026-03-01T00:00:00+00:00", "UTC", "2026-02-28"),
        ("2024-03-01T00:00:00+00:00", "UTC", "2024-02-29"),  # leap year
        ("2026-01-01T09:00:00+00:00", "UTC", "2025-12-31"),
        # 23:30 UTC is already the next day in Berlin (+01:00 in winter)...
        ("2026-03-01T23:30:00+00:00", "Europe/Berlin", "2026-03-01"),
        ("2026-03-01T23:30:00+00:00", "UTC", "2026-02-28"),
        # ...and 03:00 UTC is still the day before in New York (-05:00 in winter).
        ("2026-03-01T03:00:00+00:00", "America/New_York", "2026-02-27"),
        ("2026-03-01T05:00:00+00:00", "America/New_York", "2026-02-28"),
    ],
    ids=["utc", "leap-day", "new-year", "berlin-after-midnight", "utc-same-instant", "new-york-before-midnight",
         "new-york-after-midnight"],
)  # fmt: skip
def test_dynamic_default_is_evaluated_per_scheduled_time(
    scheduled_time: str, timezone: str, expected: str
) -> None:
    context = context_at(scheduled_time, timezone)
    assert REPORT.resolve({"x": 1}, context=context).values["day"] == expected


def test_a_backfill_gets_values_of_its_own_scheduled_time() -> None:
    days = [
        REPORT.resolve({"x": 1}, context=context_at(f"2026-03-0{n}T06:00:00+00:00")).values["day"]
        for n in (1, 2, 3)
    ]
    assert days == ["2026-02-28", "2026-03-01", "2026-03-02"]


@pytest.mark.parametrize(
    ("declaration", "template", "expected"),
    [
        ({"type": "integer"}, "{{ 1 + 2 }}", 3),
        ({"type": "number"}, "{{ 10 / 4 }}", 2.5),
        ({"type": "boolean"}, "{{ scheduled_time.day == 1 }}", True),
        ({"type": "string"}, "run-{{ job }}-{{ clock }}", "run-report-small"),
        ({"type": "string"}, " {{ job }} ", " report "),  # strings keep their spaces
        ({"type": "date"}, "{{ scheduled_time.to_date_string() }}", "2026-03-01"),
        ({"type": "datetime"}, "{{ scheduled_time.isoformat() }}", "2026-03-01T00:00:00+00:00"),
        ({"type": "array"}, '["{{ job }}", {{ scheduled_time.month }}]', ["report", 3]),
        ({"type": "object"}, '{"month": {{ scheduled_time.month }}}', {"month": 3}),
    ],
    ids=[
        "integer",
        "number",
        "boolean",
        "string",
        "string-spaces",
        "date",
        "datetime",
        "array",
        "object",
    ],
)
def test_dynamic_values_are_converted_to_their_type(
    declaration: dict[str, Any], template: str, expected: Any
) -> None:
    parameters = declare(v={**declaration, "default": template})
    assert parameters.resolve(context=CONTEXT).values == {"v": expected}


def test_dynamic_values_from_any_config_layer_are_rendered_and_given_ones_are_data() -> None:
    parameters = declare(v={"type": "integer"}, s={"type": "string", "default": "{{ job }}"})
    assert parameters.resolve({"v": "{{ scheduled_time.month }}"}, context=CONTEXT).values == {
        "v": 3,
        "s": "report",
    }
    # Spec 2.1.3: values given at trigger time are data, never rendered.
    given = parameters.resolve({"v": 1}, given={"s": "{{ 7 * 7 }}"}, context=CONTEXT)
    assert given.values == {"v": 1, "s": "{{ 7 * 7 }}"}
    with pytest.raises(ParameterError) as caught:
        parameters.resolve(given={"v": "{{ scheduled_time.year }}"}, context=CONTEXT)
    assert [p.kind for p in caught.value.problems] == ["invalid"]
    assert "is not of type 'integer'" in caught.value.problems[0].message


def test_the_context_knows_job_clock_and_run_id() -> None:
    parameters = declare(v={"type": "string", "default": "{{ job }}/{{ clock }}/{{ run_id }}"})
    context = render_context(
        scheduled_time=datetime(2026, 3, 1, tzinfo=UTC),
        timezone="UTC",
        job="report",
        clock=None,
        run_id=12,
    )
    assert parameters.resolve(context=context).values == {"v": "report/None/12"}


@pytest.mark.parametrize(
    ("declaration", "template", "message"),
    [
        (
            {"type": "integer"},
            "{{ 'abc' }}",
            "parameter 'v': dynamic value '{{ 'abc' }}': 'abc' is not an integer (write it like 42)",
        ),
        (
            {"type": "date"},
            "{{ scheduled_time.isoformat() }}",
            "parameter 'v': dynamic value '{{ scheduled_time.isoformat() }}': '2026-03-01T00:00:00+00:00' is not "
            "a date (write it like 2026-03-01)",
        ),
        (
            {"type": "array"},
            "{{ job }}",
            "parameter 'v': dynamic value '{{ job }}': 'report' is not valid JSON (expecting value at column 1); "
            'write an array like ["a", "b"]',
        ),
    ],
    ids=["integer", "date", "array"],
)
def test_a_template_that_does_not_fit_its_type_is_refused(
    declaration: dict[str, Any], template: str, message: str
) -> None:
    parameters = declare(v=declaration)
    [problem] = problems_of(parameters, {"v": template})
    assert (problem.name, problem.kind, problem.message) == ("v", "invalid", message)
    assert problem.pointer == "/v"


def test_a_rendered_value_is_validated_against_the_schema() -> None:
    parameters = declare(
        v={"type": "integer", "minimum": 10, "default": "{{ scheduled_time.month }}"}
    )
    [problem] = problems_of(parameters)
    assert (problem.kind, problem.pointer, problem.message) == (
        "invalid",
        "/v",
        "parameter 'v': 3 is less than the minimum of 10",
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ nope }}",
            "parameter 'v': dynamic value '{{ nope }}' does not render: 'nope' is undefined",
        ),
        (
            "{{ ''.__class__ }}",
            "parameter 'v': dynamic value '{{ ''.__class__ }}' does not render: access to attribute '__class__' of "
            "'str' object is unsafe: templates run in a sandbox",
        ),
    ],
    ids=["undefined", "sandbox-escape"],
)
def test_a_template_that_does_not_render_is_refused(template: str, message: str) -> None:
    [problem] = problems_of(declare(v={"type": "string"}), {"v": template})
    assert (problem.name, problem.kind, problem.message) == ("v", "render", message)


def test_render_context_makes_a_pendulum_datetime_in_the_zone() -> None:
    context = context_at("2026-07-01T12:00:00+00:00", "Europe/Berlin")
    scheduled = context["scheduled_time"]
    assert scheduled.isoformat() == "2026-07-01T14:00:00+02:00"
    assert scheduled.format("YYYYMMDD") == "20260701"
    assert scheduled.timezone_name == "Europe/Berlin"
    assert {k: v for k, v in context.items() if k != "scheduled_time"} == {
        "job": "report",
        "clock": "small",
        "run_id": None,
    }


def test_render_context_refuses_an_unknown_zone_and_a_naive_time() -> None:
    with pytest.raises(ClockError, match="unknown time zone 'Mars/Olympus'"):
        context_at("2026-03-01T00:00:00+00:00", "Mars/Olympus")
    with pytest.raises(ValueError, match="aware"):
        render_context(
            scheduled_time=datetime(2026, 3, 1), timezone="UTC", job="j", clock=None, run_id=None
        )


# -- unexpected and required (spec 2.1 points 1 and 2) ----------------------------------------


def test_unexpected_parameters_are_refused_as_the_spec_words_it() -> None:
    with pytest.raises(ParameterError) as caught:
        REPORT.resolve({"x": 1, "dummy": 2}, context=CONTEXT)
    assert str(caught.value) == "unexpected parameters: dummy"
    assert caught.value.problems == [
        ParameterProblem("dummy", "unexpected", "unexpected parameter 'dummy'")
    ]


def test_every_unexpected_name_is_one_problem_and_one_summary_line() -> None:
    with pytest.raises(ParameterError) as caught:
        REPORT.resolve({"x": 1, "dummy": 2}, {"other": 3, "dummy": 4}, context=CONTEXT)
    assert [(p.name, p.kind) for p in caught.value.problems] == [
        ("dummy", "unexpected"),
        ("other", "unexpected"),
    ]
    assert caught.value.summary_messages() == ["unexpected parameters: dummy, other"]


def test_an_unexpected_name_close_to_a_declared_one_gets_a_suggestion() -> None:
    [problem] = problems_of(REPORT, {"x": 1, "dya": "2026-01-01"})
    assert problem.message == "unexpected parameter 'dya' (did you mean 'day'?)"
    assert problem.hint == "did you mean 'day'?"


def test_a_missing_required_value_is_refused_as_the_spec_words_it() -> None:
    assert refusal(REPORT) == "required parameter 'x' has no value"
    assert REPORT.check_names({}) == [
        ParameterProblem("x", "required", "required parameter 'x' has no value")
    ]


def test_every_problem_is_collected_and_raised_once() -> None:
    parameters = declare(
        x={"type": "integer", "minimum": 0},
        y={"type": "integer"},
        s={"type": "string", "secret": True},
        n={"type": "integer"},
    )
    with pytest.raises(ParameterError) as caught:
        parameters.resolve(
            {"x": -1, "s": "hunter2", "n": "{{ nope }}", "dummy": 1, "extra": 2}, context=CONTEXT
        )
    assert [(p.name, p.kind) for p in caught.value.problems] == [
        ("dummy", "unexpected"),
        ("extra", "unexpected"),
        ("y", "required"),
        ("x", "invalid"),
        ("s", "secret"),
        ("n", "render"),
    ]
    assert str(caught.value) == (
        "unexpected parameters: dummy, extra; required parameter 'y' has no value; "
        "parameter 'x': -1 is less than the minimum of 0; "
        "secret parameter 's' takes a reference (env:NAME or file:PATH), never a value; "
        "parameter 'n': dynamic value '{{ nope }}' does not render: 'nope' is undefined"
    )
    assert caught.value.kinds == {"unexpected", "required", "invalid", "secret", "render"}


def test_summary_messages_keeps_other_problems_in_order() -> None:
    problems = [
        ParameterProblem("x", "required", "required parameter 'x' has no value"),
        ParameterProblem("a", "unexpected", "unexpected parameter 'a'"),
        ParameterProblem("b", "unexpected", "unexpected parameter 'b'"),
    ]
    assert summary_messages(problems) == [
        "unexpected parameters: a, b",
        "required parameter 'x' has no value",
    ]
    assert summary_messages([]) == []


def test_check_names_is_static() -> None:
    assert REPORT.check_names({"x": "{{ nope }}"}) == []  # templates are rendered later, per run
    assert REPORT.check_names({"dummy": 1}, {"x": 1}) == [
        ParameterProblem("dummy", "unexpected", "unexpected parameter 'dummy'")
    ]


def test_a_job_without_required_parameters_resolves_with_no_layers() -> None:
    assert ParameterSet().resolve(context=CONTEXT) == ResolvedParameters({}, frozenset())
    assert PRECEDENCE.resolve(context=CONTEXT).values == {
        "a": "default",
        "b": "default",
        "c": "default",
    }


def test_check_finds_static_problems_of_a_clock_before_any_run() -> None:
    problems = REPORT.check({"x": -1, "api_key": "literal", "day": "{{ nope }}", "dummy": 1})
    assert [(p.name, p.kind, p.message) for p in problems] == [
        ("dummy", "unexpected", "unexpected parameter 'dummy'"),
        ("x", "invalid", "parameter 'x': -1 is less than the minimum of 0"),
        (
            "api_key",
            "secret",
            "secret parameter 'api_key' takes a reference (env:NAME or file:PATH), never a value",
        ),
        (
            "day",
            "render",
            "parameter 'day': dynamic value '{{ nope }}' does not render: 'nope' is undefined",
        ),
    ]
    assert REPORT.check({"x": 3, "day": YESTERDAY}) == []
    # a literal secret in two layers is one problem
    assert [p.kind for p in REPORT.check({"x": 1, "api_key": "a"}, {"api_key": "b"})] == ["secret"]


# -- schema validation (spec 2.1 point 4) --------------------------------------------------------

SCHEMA = declare(
    count={"type": "integer", "minimum": 0, "maximum": 10},
    ratio={"type": "number", "exclusiveMaximum": 1},
    color={"type": "string", "enum": ["red", "green"]},
    code={"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3},
    flag={"type": "boolean"},
    day={"type": "date"},
    when={"type": "datetime"},
    tags={"type": "array", "items": {"type": "string", "minLength": 2}, "maxItems": 3},
    matrix={"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    options={
        "type": "object",
        "properties": {
            "depth": {"type": "integer"},
            "paths": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["depth"],
        "additionalProperties": False,
    },
)

VALID = {
    "count": 3,
    "ratio": 0.5,
    "color": "red",
    "code": "ABC",
    "flag": True,
    "day": "2026-03-01",
    "when": "2026-03-01T10:00:00+01:00",
    "tags": ["ab", "cd"],
    "matrix": [[1, 2], [3]],
    "options": {"depth": 1, "paths": ["/a"]},
}


def test_valid_values_pass_unchanged() -> None:
    assert SCHEMA.resolve(VALID, context=CONTEXT).values == VALID


@pytest.mark.parametrize(
    ("name", "value", "pointer", "message"),
    [
        ("count", -1, "/count", "parameter 'count': -1 is less than the minimum of 0"),
        ("count", 11, "/count", "parameter 'count': 11 is greater than the maximum of 10"),
        ("count", "3", "/count", "parameter 'count': '3' is not of type 'integer'"),
        ("count", True, "/count", "parameter 'count': true is not of type 'integer'"),
        ("count", 2.5, "/count", "parameter 'count': 2.5 is not of type 'integer'"),
        ("ratio", 1, "/ratio", "parameter 'ratio': 1 is greater than or equal to the maximum of 1"),
        ("color", "blue", "/color", "parameter 'color': 'blue' is not one of 'red', 'green'"),
        ("code", "abc", "/code", "parameter 'code': 'abc' does not match '^[A-Z]{3}$'"),
        ("flag", "yes", "/flag", "parameter 'flag': 'yes' is not of type 'boolean'"),
        ("day", "2026-02-30", "/day", "parameter 'day': '2026-02-30' is not a valid date: day is out of range for month (write it like 2026-03-01)"),
        ("day", 20260301, "/day", "parameter 'day': 20260301 is not a date (write it as text, like 2026-03-01)"),
        ("when", "2026-03-01T10:00:00", "/when", "parameter 'when': '2026-03-01T10:00:00' has no UTC offset (write it like 2026-03-01T10:00:00+01:00 or 2026-03-01T09:00:00Z)"),
        ("tags", ["ab", "x"], "/tags/1", "parameter 'tags' at /tags/1: 'x' is too short"),
        ("tags", ["ab", "cd", "ef", "gh"], "/tags", "parameter 'tags': ['ab', 'cd', 'ef', 'gh'] is too long"),
        ("tags", "ab", "/tags", "parameter 'tags': 'ab' is not of type 'array'"),
        ("matrix", [[1], [2, "x"]], "/matrix/1/1", "parameter 'matrix' at /matrix/1/1: 'x' is not of type 'integer'"),
        ("options", {"depth": 1, "paths": ["/a", 5]}, "/options/paths/1", "parameter 'options' at /options/paths/1: 5 is not of type 'string'"),
        ("options", {"paths": []}, "/options", "parameter 'options': 'depth' is a required property"),
    ],
    ids=[
        "below-minimum", "above-maximum", "text-for-integer", "bool-for-integer", "float-for-integer",
        "exclusive-maximum", "enum", "pattern", "text-for-boolean", "bad-date", "number-for-date",
        "naive-datetime", "array-item", "array-too-long", "text-for-array", "nested-array-item",
        "object-nested-item", "object-required-key",
    ],
)  # fmt: skip
def test_schema_errors_are_phrased_with_pointers(
    name: str, value: Any, pointer: str, message: str
) -> None:
    [problem] = problems_of(SCHEMA, {**VALID, name: value})
    assert (problem.name, problem.kind, problem.pointer, problem.message) == (
        name,
        "invalid",
        pointer,
        message,
    )


def test_every_schema_error_of_one_value_is_reported() -> None:
    problems = problems_of(SCHEMA, {**VALID, "tags": ["x", 1, "ok", "y"]})
    assert [p.pointer for p in problems] == ["/tags", "/tags/0", "/tags/1", "/tags/3"]


def test_a_remembered_valid_value_does_not_hide_an_invalid_one() -> None:
    parameters = declare(n={"type": "integer", "minimum": 0})
    for _ in range(2):
        assert parameters.resolve({"n": 5}, context=CONTEXT).values == {"n": 5}
        assert refusal(parameters, {"n": -5}) == "parameter 'n': -5 is less than the minimum of 0"
        assert parameters.resolve({"n": 6}, context=CONTEXT).values == {"n": 6}


@pytest.mark.parametrize(
    ("declaration", "given", "expected"),
    [
        ({"type": "integer"}, 3.0, 3),
        ({"type": "date"}, date(2026, 3, 1), "2026-03-01"),
        ({"type": "datetime"}, datetime(2026, 3, 1, 9, tzinfo=UTC), "2026-03-01T09:00:00+00:00"),
        ({"type": "datetime"}, "2026-03-01T09:00:00Z", "2026-03-01T09:00:00+00:00"),
        ({"type": "array"}, ("a", date(2026, 1, 2)), ["a", "2026-01-02"]),
    ],
    ids=["whole-float-to-int", "toml-date", "toml-datetime", "z-normalized", "tuple-with-date"],
)
def test_values_are_made_json_ready(declaration: dict[str, Any], given: Any, expected: Any) -> None:
    assert declare(v=declaration).resolve({"v": given}, context=CONTEXT).values == {"v": expected}


def test_a_value_that_is_not_json_serializable_is_refused() -> None:
    parameters = declare(v={"type": "array"}, w={"type": "number"})
    problems = problems_of(parameters, {"v": [object()], "w": float("nan")})
    assert [(p.name, p.kind) for p in problems] == [("v", "invalid"), ("w", "invalid")]
    assert problems[0].message.startswith(
        "parameter 'v': is not JSON serializable (Object of type object"
    )


# -- size (spec 2.1 point 4) ------------------------------------------------------------------------


def test_parameters_over_the_size_limit_are_refused() -> None:
    parameters = ParameterSet.from_declarations(
        {"blob": {"type": "string"}, "n": {"type": "integer"}}, max_bytes=100
    )
    # {"blob":"…","n":1} is 17 bytes around the text.
    assert (
        parameters.resolve({"blob": "a" * 83, "n": 1}, context=CONTEXT).values["blob"] == "a" * 83
    )
    [problem] = problems_of(parameters, {"blob": "a" * 84, "n": 1})
    assert (problem.name, problem.kind) == ("blob", "too_large")
    assert problem.message == (
        "parameters take 101 bytes as JSON, over the limit of 100 (max_parameters_bytes); the largest is 'blob' (95 bytes)"
    )


def test_the_size_counts_utf8_bytes_and_containers() -> None:
    parameters = ParameterSet.from_declarations({"tags": {"type": "array"}}, max_bytes=20)
    assert parameters.resolve({"tags": ["ééé"]}, context=CONTEXT).values == {
        "tags": ["ééé"]
    }  # 18 bytes
    [problem] = problems_of(parameters, {"tags": ["éééé"]})  # 20 characters, 21 bytes
    assert problem.kind == "too_large"


def test_the_default_limit_is_one_mebibyte() -> None:
    parameters = declare(blob={"type": "string"})
    assert parameters.max_bytes == 1 << 20
    assert parameters.resolve({"blob": "a" * ((1 << 20) - 11)}, context=CONTEXT).values
    assert problems_of(parameters, {"blob": "a" * ((1 << 20) - 10)})[0].kind == "too_large"


# -- secrets (spec 2.1 point 5) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    ["env:API_KEY", "file:/run/secrets/key", "file:key.txt"],
    ids=["env", "file-abs", "file-rel"],
)
def test_a_secret_reference_is_accepted_and_masked(reference: str) -> None:
    resolved = REPORT.resolve({"x": 1, "api_key": reference}, context=CONTEXT)
    assert resolved.values["api_key"] == reference
    assert resolved.masked() == {"x": 1, "day": "2026-02-28", "api_key": "***"}
    assert "api_key" not in {k for k, v in resolved.masked().items() if v == reference}


@pytest.mark.parametrize(
    "layers",
    [
        ({"x": 1, "api_key": "hunter2"},),
        ({"x": 1, "api_key": "hunter2"}, {"api_key": "env:API_KEY"}),  # a literal at any layer
        ({"x": 1, "api_key": "{{ 'hunter2' }}"},),
        ({"x": 1, "api_key": 1234},),
    ],
    ids=["literal", "literal-overridden", "template", "number"],
)
def test_a_secret_literal_is_refused_without_showing_it(layers: tuple[dict[str, Any], ...]) -> None:
    with pytest.raises(ParameterError) as caught:
        REPORT.resolve(*layers, context=CONTEXT)
    assert caught.value.problems == [
        ParameterProblem(
            "api_key",
            "secret",
            "secret parameter 'api_key' takes a reference (env:NAME or file:PATH), never a value",
        )
    ]
    assert "hunter2" not in str(caught.value)
    assert "1234" not in str(caught.value)


def test_a_required_secret_takes_its_reference_from_a_clock() -> None:
    parameters = declare(token={"type": "string", "secret": True})
    assert refusal(parameters) == "required parameter 'token' has no value"
    assert parameters.resolve({"token": "env:TOKEN"}, context=CONTEXT).masked() == {"token": "***"}


# -- declarations ---------------------------------------------------------------------------------


def test_json_schema_shape() -> None:
    parameters = declare(
        x={"type": "integer", "description": "how many", "minimum": 0},
        day={"type": "date", "default": YESTERDAY},
        since={"type": "date", "default": date(2026, 1, 1)},
        at={"type": "datetime", "default": "2026-01-01T00:00:00Z"},
        tags={"type": "array", "items": {"type": "string"}, "default": []},
        api_key={"type": "string", "secret": True, "default": "env:REPORT_API_KEY"},
    )
    assert parameters.json_schema() == {
        "type": "object",
        "properties": {
            "x": {"type": "integer", "minimum": 0, "description": "how many"},
            "day": {"type": "string", "format": "date", "x-dynamic-default": YESTERDAY},
            "since": {"type": "string", "format": "date", "default": "2026-01-01"},
            "at": {"type": "string", "format": "date-time", "default": "2026-01-01T00:00:00+00:00"},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            "api_key": {
                "type": "string",
                "default": "env:REPORT_API_KEY",
                "x-secret": True,
                "enum": ["env:REPORT_API_KEY"],
            },
        },
        "required": ["x"],
        "additionalProperties": False,
    }


def test_json_schema_validates_like_resolve() -> None:
    from jsonschema import Draft202012Validator

    schema = SCHEMA.json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert validator.is_valid(VALID)
    assert not validator.is_valid({**VALID, "dummy": 1})
    assert not validator.is_valid({k: v for k, v in VALID.items() if k != "count"} | {"count": -1})


def test_json_schema_is_a_fresh_copy() -> None:
    schema = REPORT.json_schema()
    schema["properties"]["x"]["minimum"] = 100
    assert REPORT.json_schema()["properties"]["x"]["minimum"] == 0
    nested = SCHEMA.json_schema()
    nested["properties"]["tags"]["items"]["minLength"] = 0
    assert SCHEMA.json_schema()["properties"]["tags"]["items"]["minLength"] == 2
    assert problems_of(SCHEMA, {**VALID, "tags": ["x"]})[0].pointer == "/tags/0"
    assert REPORT.resolve({"x": 1}, context=CONTEXT).values["x"] == 1


@pytest.mark.parametrize(
    ("declarations", "messages"),
    [
        ({"x": {"description": "no type"}}, ["parameter 'x': missing key 'type': one of string, integer, number, boolean, date, datetime, array, object"]),
        ({"x": {"type": "int"}}, ["parameter 'x': unknown type 'int' (did you mean 'integer'?): one of string, integer, number, boolean, date, datetime, array, object"]),
        ({"x": {"type": "strng"}}, ["parameter 'x': unknown type 'strng' (did you mean 'string'?): one of string, integer, number, boolean, date, datetime, array, object"]),
        ({"x": {"type": 3}}, ["parameter 'x': unknown type 3: one of string, integer, number, boolean, date, datetime, array, object"]),
        ({"x": {"type": "integer", "minimun": 0}}, ["parameter 'x': unknown key 'minimun' (did you mean 'minimum'?)"]),
        ({"x": {"type": "integer", "defualt": 0}}, ["parameter 'x': unknown key 'defualt' (did you mean 'default'?)"]),
        ({"x": {"type": "integer", "$ref": "#/x"}}, ["parameter 'x': unknown key '$ref'"]),
        ({"x": {"type": "string", "minimum": 0}}, ["parameter 'x': keyword 'minimum' does not apply to type 'string', only to 'integer' or 'number'"]),
        ({"x": {"type": "integer", "items": {}}}, ["parameter 'x': keyword 'items' does not apply to type 'integer', only to 'array'"]),
        ({"x": {"type": "date", "format": "date"}}, ["parameter 'x': type 'date' sets the format already; remove 'format'"]),
        ({"x": {"type": "integer", "description": 3}}, ["parameter 'x': description must be text"]),
        ({"x": {"type": "string", "secret": "yes"}}, ["parameter 'x': secret must be true or false"]),
        ({"x": {"type": "integer", "minimum": "a"}}, ["parameter 'x': invalid 'minimum': 'a' is not of type 'number' (from jsonschema)"]),
        ({"x": {"type": "string", "pattern": "("}}, ["parameter 'x': invalid 'pattern': '(' is not a valid regular expression"]),
        ({"x": {"type": "integer", "minimum": 0, "default": -1}}, ["parameter 'x': default: -1 is less than the minimum of 0"]),
        ({"x": {"type": "string", "enum": ["a", "b"], "default": "c"}}, ["parameter 'x': default: 'c' is not one of 'a', 'b'"]),
        ({"x": {"type": "boolean", "default": 1}}, ["parameter 'x': default: 1 is not of type 'boolean'"]),
        ({"x": {"type": "array", "items": {"type": "integer"}, "default": [1, "a"]}}, ["parameter 'x' at /x/1: default: 'a' is not of type 'integer'"]),
        ({"x": {"type": "datetime", "default": datetime(2026, 1, 1)}}, ["parameter 'x': default: '2026-01-01T00:00:00' has no UTC offset (write it like 2026-03-01T10:00:00+01:00 or 2026-03-01T09:00:00Z)"]),
        ({"x": {"type": "date", "default": "{{ nope }}"}}, ["parameter 'x': default: dynamic value '{{ nope }}' does not render: 'nope' is undefined"]),
        ({"x": {"type": "date", "default": "{{ scheduled_time"}}, ["parameter 'x': default: dynamic value '{{ scheduled_time' does not render: syntax error: unexpected end of template, expected 'end of print statement'"]),
        ({"k": {"type": "string", "secret": True, "default": "hunter2"}}, ["secret parameter 'k' takes a reference (env:NAME or file:PATH), never a value"]),
        ({"k": {"type": "integer", "secret": True}}, ["secret parameter 'k' must have type 'string': its value is a reference (env:NAME or file:PATH)"]),
        ({"k": {"type": "string", "secret": True, "minLength": 8}}, ["secret parameter 'k': keyword 'minLength' does not apply: its value is a reference (env:NAME or file:PATH)"]),
        ({"job": {"type": "string"}}, ["parameter name 'job' is reserved: templates already use scheduled_time, job, clock, run_id, parameters; choose another name"]),
        ({"my-x": {"type": "string"}}, ["parameter name 'my-x' is not usable: use letters, digits and _, not starting with a digit (it becomes a template variable and CLOCKD_PARAM_<NAME>)"]),
        ({"x": "integer"}, ["parameter 'x': the declaration must be a table with a type, like { type = \"string\" }"]),
    ],
    ids=[
        "missing-type", "type-alias", "type-typo", "type-not-text", "unknown-keyword", "typo-of-default", "ref-unsupported",
        "keyword-wrong-type", "items-on-integer", "format-on-date", "description-not-text", "secret-not-bool",
        "keyword-bad-value", "bad-regex", "default-below-minimum", "default-not-in-enum", "default-wrong-type",
        "default-nested-item", "default-naive-datetime", "dynamic-default-undefined", "dynamic-default-syntax",
        "secret-literal-default", "secret-not-string", "secret-with-keyword", "reserved-name", "bad-name", "not-a-table",
    ],
)  # fmt: skip
def test_bad_declarations_are_refused_in_words(
    declarations: dict[str, Any], messages: list[str]
) -> None:
    with pytest.raises(ParameterError) as caught:
        ParameterSet.from_declarations(declarations)
    assert [p.message for p in caught.value.problems] == messages
    assert {p.kind for p in caught.value.problems} == {"declaration"}
    assert {p.name for p in caught.value.problems} == set(declarations)


def test_every_bad_declaration_is_reported_at_once() -> None:
    with pytest.raises(ParameterError) as caught:
        declare(
            a={"type": "int"},
            b={"type": "integer"},
            c={"type": "string", "maxLenght": 3, "minimum": 1},
        )
    assert [(p.name, p.message) for p in caught.value.problems] == [
        ("a", "parameter 'a': unknown type 'int' (did you mean 'integer'?): one of string, integer, number, boolean, date, datetime, array, object"),
        ("c", "parameter 'c': unknown key 'maxLenght' (did you mean 'maxLength'?)"),
        ("c", "parameter 'c': keyword 'minimum' does not apply to type 'string', only to 'integer' or 'number'"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("declaration", "schema"),
    [
        ({"type": "string"}, {"type": "string"}),
        ({"type": "integer", "minimum": 0, "maximum": 9}, {"type": "integer", "minimum": 0, "maximum": 9}),
        ({"type": "number", "multipleOf": 0.5}, {"type": "number", "multipleOf": 0.5}),
        ({"type": "boolean", "title": "Flag"}, {"type": "boolean", "title": "Flag"}),
        ({"type": "date"}, {"type": "string", "format": "date"}),
        ({"type": "datetime"}, {"type": "string", "format": "date-time"}),
        ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
        ({"type": "object", "required": ["a"]}, {"type": "object", "required": ["a"]}),
        ({"type": "string", "format": "email"}, {"type": "string", "format": "email"}),
        ({"type": "date", "enum": [date(2026, 1, 1)]}, {"type": "string", "format": "date", "enum": ["2026-01-01"]}),
    ],
    ids=["string", "integer", "number", "boolean", "date", "datetime", "array", "object", "string-format", "date-enum"],
)  # fmt: skip
def test_declarations_map_to_json_schema(
    declaration: dict[str, Any], schema: dict[str, Any]
) -> None:
    assert declare(v=declaration)["v"].schema == schema


def test_a_toml_date_in_an_enum_is_compared_as_text() -> None:
    parameters = declare(day={"type": "date", "enum": [date(2026, 1, 1)]})
    assert parameters.resolve({"day": date(2026, 1, 1)}, context=CONTEXT).values == {
        "day": "2026-01-01"
    }
    assert (
        problems_of(parameters, {"day": "2026-01-02"})[0].message
        == "parameter 'day': '2026-01-02' is not one of '2026-01-01'"
    )


def test_a_static_toml_datetime_default_is_stored_normalized() -> None:
    parameters = declare(at={"type": "datetime", "default": datetime(2026, 1, 1, 9, tzinfo=UTC)})
    assert parameters["at"].default == "2026-01-01T09:00:00+00:00"


# -- the daemon resolves per fire (its speed: benchmarks/model.py) ---------------------------------


def test_resolving_the_same_static_values_again_gives_fresh_equal_values() -> None:
    parameters = declare(
        x={"type": "integer", "minimum": 0},
        label={"type": "string", "default": "nightly"},
        flag={"type": "boolean", "default": True},
        tags={"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
        api_key={"type": "string", "secret": True, "default": "env:KEY"},
    )
    expected = {"x": 9, "label": "nightly", "flag": True, "tags": ["a", "b"], "api_key": "env:KEY"}
    first = parameters.resolve({"x": 9}, context=CONTEXT)
    first.values["tags"].append("changed by a run")  # one fire's values are its own
    for _ in range(3):
        again = parameters.resolve({"x": 9}, context=CONTEXT)
        assert again.values == expected
        assert again.masked()["api_key"] == "***"
