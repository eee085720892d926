"""docs/config.md describes every key the config accepts."""

from __future__ import annotations

import re

import pytest

from scheduler.config.calendars import CALENDAR_KEYS
from scheduler.config.keys import CLOCK_KEYS, DAEMON_KEYS, EXECUTOR_KEYS, JOB_KEYS
from tests.conftest import ROOT

CONFIG_MD = ROOT / "docs" / "config.md"


def _section(title: str) -> str:
    text = CONFIG_MD.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    following = re.search(r"^## ", text[start + 3 :], re.M)
    return text[start : start + 3 + following.start()] if following else text[start:]


@pytest.mark.parametrize(
    ("title", "keys"),
    [
        ("`[daemon]`", DAEMON_KEYS),
        ("`[jobs.NAME]`", JOB_KEYS),
        ("`[jobs.NAME]`", CLOCK_KEYS),  # the clocks table is a part of the jobs section
        ("`[executors.NAME]`", EXECUTOR_KEYS),
        ("`[calendars.NAME]`", CALENDAR_KEYS),
    ],
    ids=["daemon", "jobs", "clocks", "executors", "calendars"],
)
def test_every_key_has_a_row_in_its_section(title: str, keys: tuple[str, ...]) -> None:
    section = _section(title)
    undocumented = [key for key in keys if f"| `{key}` |" not in section]
    assert undocumented == []
