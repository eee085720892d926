"""`-p NAME=VALUE`: text converted by the parameter's declared type (spec 4), refused in words."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clocks.parameters import ParameterError, ParameterSet
from clocks.values import is_reference, json_size, to_json_value

PARAMETERS = ParameterSet.from_declarations(
    {
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "day": {"type": "date"},
        "when": {"type": "datetime"},
        "tags": {"type": "array"},
        "options": {"type": "object"},
        "label": {"type": "string"},
        "api_key": {"type": "string", "secret": True},
    }
)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("count", "3", 3),
        ("count", "-12", -12),
        ("count", "+7", 7),
        ("count", " 42 ", 42),
        ("count", "007", 7),
        ("count", "123456789012345678901234567890", 123456789012345678901234567890),
        ("ratio", "3", 3),
        ("ratio", "2.5", 2.5),
        ("ratio", "-.5", -0.5),
        ("ratio", "1e3", 1000.0),
        ("ratio", "1.5E-2", 0.015),
        ("flag", "true", True),
        ("flag", "FALSE", False),
        ("flag", "Yes", True),
        ("flag", "no", False),
        ("flag", "on", True),
        ("flag", "Off", False),
        ("flag", "1", True),
        ("flag", "0", False),
        ("day", "2026-03-01", "2026-03-01"),
        ("day", "2024-02-29", "2024-02-29"),
        ("when", "2026-03-01T10:00:00+01:00", "2026-03-01T10:00:00+01:00"),
        ("when", "2026-03-01T09:00:00Z", "2026-03-01T09:00:00+00:00"),
        ("when", "2026-03-01 09:00z", "2026-03-01T09:00:00+00:00"),
        ("when", "2026-03-01T09:00:00.250-0530", "2026-03-01T09:00:00.250000-05:30"),
        ("tags", '["a", "b"]', ["a", "b"]),
        ("tags", "[]", []),
        ("tags", "[1, [2, 3]]", [1, [2, 3]]),
        ("options", '{"depth": 2, "tags": ["x"]}', {"depth": 2, "tags": ["x"]}),
        ("label", "  keep  spaces ", "  keep  spaces "),
        ("label", "3", "3"),
        ("label", "", ""),
    ],
    ids=[
        "int", "int-negative", "int-plus", "int-spaces", "int-leading-zeros", "int-big",
        "number-int", "number-float", "number-leading-dot", "number-exponent", "number-small-exponent",
        "bool-true", "bool-FALSE", "bool-Yes", "bool-no", "bool-on", "bool-Off", "bool-1", "bool-0",
        "date", "date-leap-day",
        "datetime-offset", "datetime-Z", "datetime-space-lower-z-no-seconds", "datetime-fraction-compact-offset",
        "array", "array-empty", "array-nested", "object",
        "string-as-is", "string-digits", "string-empty",
    ],
)  # fmt: skip
def test_convert_text_by_declared_type(name: str, text: str, expected: Any) -> None:
    value = PARAMETERS.convert_text(name, text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("count", "4.2", "parameter 'count': '4.2' is not an integer (write it like 42)"),
        ("count", "three", "parameter 'count': 'three' is not an integer (write it like 42)"),
        ("count", "", "parameter 'count': '' is not an integer (write it like 42)"),
        ("count", "1_000", "parameter 'count': '1_000' is not an integer (write it like 42)"),
        ("ratio", "nan", "parameter 'ratio': 'nan' is not a number (write it like 42 or 2.5)"),
        ("ratio", "inf", "parameter 'ratio': 'inf' is not a number (write it like 42 or 2.5)"),
        ("ratio", "1e999", "parameter 'ratio': '1e999' is not a number (write it like 42 or 2.5)"),
        ("ratio", "1,5", "parameter 'ratio': '1,5' is not a number (write it like 42 or 2.5)"),
        ("flag", "maybe", "parameter 'flag': 'maybe' is not a boolean (true/false, yes/no, on/off or 1/0)"),
        ("flag", "2", "parameter 'flag': '2' is not a boolean (true/false, yes/no, on/off or 1/0)"),
        ("day", "2026-02-30", "parameter 'day': '2026-02-30' is not a valid date: day is out of range for month (write it like 2026-03-01)"),
        ("day", "20260301", "parameter 'day': '20260301' is not a date (write it like 2026-03-01)"),
        ("day", "2026-03-01T00:00:00", "parameter 'day': '2026-03-01T00:00:00' is not a date (write it like 2026-03-01)"),
        ("day", "yesterday", "parameter 'day': 'yesterday' is not a date (write it like 2026-03-01)"),
        (
            "when",
            "2026-03-01T10:00",
            "parameter 'when': '2026-03-01T10:00' has no UTC offset (write it like 2026-03-01T10:00:00+01:00 or 2026-03-01T09:00:00Z)",
        ),
        (
            "when",
            "2026-03-01T25:00Z",
            "parameter 'when': '2026-03-01T25:00Z' is not a valid date-time: hour must be in 0..23 "
            "(write it like 2026-03-01T10:00:00+01:00 or 2026-03-01T09:00:00Z)",
        ),
        (
            "when",
            "2026-03-01",
            "parameter 'when': '2026-03-01' is not a date-time (write it like 2026-03-01T10:00:00+01:00 or 2026-03-01T09:00:00Z)",
        ),
        ("tags", "[1,", "parameter 'tags': '[1,' is not valid JSON (expecting value at column 4); write an array like [\"a\", \"b\"]"),
        ("tags", "a,b", "parameter 'tags': 'a,b' is not valid JSON (expecting value at column 1); write an array like [\"a\", \"b\"]"),
        ("tags", '{"a": 1}', "parameter 'tags': '{\"a\": 1}' is not a JSON array (write it like [\"a\", \"b\"])"),
        ("tags", "[NaN]", "parameter 'tags': '[NaN]' is not valid JSON (NaN is not a JSON number); write an array like [\"a\", \"b\"]"),
        ("options", "[1]", "parameter 'options': '[1]' is not a JSON object (write it like {\"key\": \"value\"})"),
        ("options", "{depth: 2}", "parameter 'options': '{depth: 2}' is not valid JSON (expecting property name enclosed in double quotes at column 2); write an object like {\"key\": \"value\"}"),
    ],
    ids=[
        "int-decimal", "int-word", "int-empty", "int-underscore",
        "number-nan", "number-inf", "number-overflow", "number-comma",
        "bool-word", "bool-2",
        "date-feb-30", "date-compact", "date-with-time", "date-word",
        "datetime-naive", "datetime-hour-25", "datetime-date-only",
        "array-truncated", "array-bare-words", "array-got-object", "array-nan",
        "object-got-array", "object-unquoted-key",
    ],
)  # fmt: skip
def test_convert_text_refuses_in_words(name: str, text: str, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        PARAMETERS.convert_text(name, text)
    assert str(caught.value) == message
    [problem] = caught.value.problems
    assert (problem.name, problem.kind, problem.pointer) == (name, "invalid", f"/{name}")


def test_convert_text_refuses_an_unknown_name_with_a_suggestion() -> None:
    with pytest.raises(ParameterError) as caught:
        PARAMETERS.convert_text("cuont", "3")
    [problem] = caught.value.problems
    assert (problem.name, problem.kind) == ("cuont", "unexpected")
    assert problem.message == "unexpected parameter 'cuont' (did you mean 'count'?)"
    assert str(caught.value) == "unexpected parameters: cuont (did you mean 'count'?)"


def test_convert_text_refuses_an_unknown_name_without_a_close_one() -> None:
    with pytest.raises(ParameterError) as caught:
        PARAMETERS.convert_text("dummy", "1")
    assert str(caught.value) == "unexpected parameters: dummy"
    assert caught.value.problems[0].message == "unexpected parameter 'dummy'"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("api_key", "env:API_KEY"),
        ("api_key", "hunter2"),  # kept as given; resolution refuses it (kind "secret")
    ],
    ids=["secret-reference", "secret-literal"],
)
def test_convert_text_keeps_secret_text_for_resolution(name: str, text: str) -> None:
    assert PARAMETERS.convert_text(name, text) == text


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "count",
            "{{ 1 + 2 }}",
            "parameter 'count': '{{ 1 + 2 }}' is not an integer (write it like 42)",
        ),
        (
            "day",
            "{{ scheduled_time.to_date_string() }}",
            "parameter 'day': '{{ scheduled_time.to_date_string() }}' is not a date (write it like 2026-03-01)",
        ),
    ],
    ids=["template-as-int", "template-as-date"],
)
def test_convert_text_takes_a_template_as_data(name: str, text: str, message: str) -> None:
    # Spec 2.1.3: only the config holds templates; a trigger-time "{{" is plain text.
    with pytest.raises(ParameterError) as caught:
        PARAMETERS.convert_text(name, text)
    assert [p.message for p in caught.value.problems] == [message]


def test_convert_text_keeps_a_template_as_text_for_a_string() -> None:
    assert PARAMETERS.convert_text("label", "{{ 7 * 7 }}") == "{{ 7 * 7 }}"


@settings(max_examples=200, deadline=None)
@given(st.integers())
def test_integers_round_trip(number: int) -> None:
    assert PARAMETERS.convert_text("count", str(number)) == number


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=-(10**15), max_value=10**15)
    | st.floats(allow_nan=False, allow_infinity=False)
)
def test_numbers_round_trip(number: float) -> None:
    assert PARAMETERS.convert_text("ratio", repr(number)) == number


@settings(max_examples=50, deadline=None)
@given(
    st.booleans(),
    st.sampled_from([("true", "false"), ("yes", "no"), ("on", "off"), ("1", "0")]),
    st.sampled_from([str.lower, str.upper, str.title]),
)
def test_booleans_round_trip(flag: bool, words: tuple[str, str], case: Any) -> None:
    text = case(words[0] if flag else words[1])
    assert PARAMETERS.convert_text("flag", text) is flag


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1000, 1, 1)))
def test_dates_round_trip(day: dt.date) -> None:
    assert PARAMETERS.convert_text("day", day.isoformat()) == day.isoformat()


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1000, 1, 1),
        timezones=st.sampled_from(
            [
                dt.UTC,
                dt.timezone(dt.timedelta(hours=5, minutes=30)),
                dt.timezone(-dt.timedelta(hours=8)),
            ]
        ),
    )
)
def test_datetimes_round_trip_to_the_same_instant(moment: dt.datetime) -> None:
    text = PARAMETERS.convert_text("when", moment.isoformat())
    assert dt.datetime.fromisoformat(text) == moment
    assert dt.datetime.fromisoformat(text).utcoffset() == moment.utcoffset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2026, 3, 1), "2026-03-01"),
        (dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC), "2026-03-01T09:30:00+00:00"),
        (dt.datetime(2026, 3, 1, 9, 30), "2026-03-01T09:30:00"),
        (dt.time(9, 30), "09:30:00"),
        ({"days": [dt.date(2026, 1, 1)], "n": 1}, {"days": ["2026-01-01"], "n": 1}),
        (("a", 1), ["a", 1]),
        (3, 3),
    ],
    ids=["date", "aware-datetime", "local-datetime", "time", "nested", "tuple", "scalar"],
)
def test_toml_native_values_become_json_ready(value: Any, expected: Any) -> None:
    assert to_json_value(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("env:API_KEY", True),
        ("env:_x1", True),
        ("file:/run/secrets/key", True),
        ("file:secrets/key.txt", True),
        ("env:1X", False),
        ("env:", False),
        ("env:A-B", False),
        ("file:", False),
        ("hunter2", False),
        ("ENV:API_KEY", False),
        ("env:{{ job }}", False),
        (42, False),
    ],
    ids=["env", "env-underscore", "file-absolute", "file-relative", "env-digit-first", "env-empty",
         "env-dash", "file-empty", "literal", "upper-prefix", "template", "int"],
)  # fmt: skip
def test_is_reference(value: object, expected: bool) -> None:
    assert is_reference(value) is expected


def test_json_size_counts_utf8_bytes_and_refuses_nan() -> None:
    assert json_size({"a": "é"}) == len('{"a":"é"}'.encode())
    with pytest.raises(ValueError, match="JSON compliant"):
        json_size({"a": float("nan")})
