"""What the web layer accepts as a number from a URL, a query or a header, and how deeply
it lets JSON nest: checked on their own, with the texts that used to reach `int()`."""

from __future__ import annotations

import pytest

from scheduler.web.nesting import MAX_NESTING, nesting_depth, too_deep
from scheduler.web.numbers import MAX_WHOLE, whole_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("007", 7),
        ("9223372036854775807", MAX_WHOLE),
        ("9223372036854775808", None),  # past SQLite's INTEGER
        ("99999999999999999999", None),
        ("9" * 5000, None),  # int() would refuse it with a ValueError
        ("0" * 30 + "1", None),  # longer than any id: refused before int()
        ("²", None),  # str.isdigit() is True for these
        ("٣", None),  # ... and int() reads this one as 3
        ("１", None),  # fullwidth
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1 ", None),
        ("1.0", None),
        ("1e3", None),
        ("0x1f", None),
        ("1_000", None),  # int() accepts underscores
        ("", None),
        (None, None),
    ],
)
def test_whole_number(text: str | None, expected: int | None) -> None:
    assert whole_number(text) == expected


def test_whole_number_under_a_smaller_maximum() -> None:
    assert whole_number("1000", maximum=1000) == 1000
    assert whole_number("1001", maximum=1000) is None
    assert whole_number("10000", maximum=1000) is None


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("3", 0),
        ('"[[["', 0),
        ("[]", 1),
        ('{"a": [1, "]]]"]}', 2),
        ('{"a\\"[[": 1}', 1),  # an escaped quote does not end the string
        ("[[], [[]]]", 3),
        ("[" * 500 + "]" * 500, 500),
        ("]]]", 0),  # not JSON: never below zero
        ("", 0),
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_too_deep_only_for_types_parsed_as_json() -> None:
    deep = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    fits = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert too_deep("tags", "array", deep) == (
        f"parameter 'tags' is nested {MAX_NESTING + 1} levels deep; "
        f"at most {MAX_NESTING} are accepted"
    )
    assert too_deep("tags", "array", fits) is None
    assert too_deep("extra", "object", deep) is not None
    assert too_deep("note", "string", deep) is None  # a string may hold any brackets
