"""The secret masker (scheduler/running/masking.py): pure, given the resolved values."""

from __future__ import annotations

import pytest

from scheduler.running.masking import NO_SECRETS, MaskedLog, Masker


@pytest.mark.parametrize(
    ("secrets", "text", "expected"),
    [
        (["hunter22"], "password=hunter22;", "password=***;"),
        (["hunter22"], "hunter22 hunter22", "*** ***"),
        (["abcd"], "xabcdx", "x***x"),
        (["abc"], "abc is too short to mask", "abc is too short to mask"),
        (["line-one", "li"], "li line-one", "li ***"),
        (["tok-1", "tok-1-long"], "tok-1-long and tok-1", "*** and ***"),
        (["a.b*c+"], "regex a.b*c+ chars, not axbbc", "regex *** chars, not axbbc"),
        (["first line\nsecond line\n"], "x second line y", "x *** y"),
        (["first line\r\nsecond"], "first line", "***"),
        (["key\n    \nrest-of-it"], "    indented", "    indented"),
    ],
    ids=[
        "whole",
        "every-occurrence",
        "four-characters",
        "three-characters",
        "short-one-ignored",
        "longest-first",
        "regex-characters",
        "multi-line-each-line",
        "crlf-lines",
        "blank-line-of-a-secret",
    ],
)
def test_a_secret_is_masked_wherever_it_appears(
    secrets: list[str], text: str, expected: str
) -> None:
    assert Masker(secrets).mask(text) == expected


def test_a_json_result_is_masked_at_any_depth_keys_included() -> None:
    masker = Masker(["s3cr3t-v"])
    result = {"key": "s3cr3t-v", "list": ["a", {"deep": "x-s3cr3t-v"}, 3, None], "s3cr3t-v": 1.5}
    assert masker.mask_json(result) == {
        "key": "***",
        "list": ["a", {"deep": "x-***"}, 3, None],
        "***": 1.5,
    }
    assert masker.mask_json("s3cr3t-v") == "***"
    assert masker.mask_json(42) == 42


def test_without_secrets_long_enough_nothing_is_masked_and_the_masker_is_false() -> None:
    assert not NO_SECRETS
    assert not Masker(["abc", "", "  \n   "])
    assert Masker(["abcd"])
    result = {"a": ["abc"]}
    assert Masker(["abc"]).mask_json(result) is result


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def line(self, stream: str, text: str, *, time: object = None) -> None:
        self.lines.append((stream, text))

    def clockd(self, text: str) -> None:
        self.lines.append(("clockd", text))


def test_a_masked_log_masks_output_and_clockd_lines() -> None:
    lines = Lines()
    log = MaskedLog(lines, Masker(["pa55word"]))  # type: ignore[arg-type]
    log.line("stdout", "login pa55word")
    log.clockd("[clockd: pa55word]")
    assert lines.lines == [("stdout", "login ***"), ("clockd", "[clockd: ***]")]
