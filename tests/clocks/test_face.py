"""The library face of clocks/: `from clocks import ...` works, and loads lazily."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

import clocks
from tests.conftest import ROOT

FACE = [
    "Calendar",
    "ClockError",
    "CronClock",
    "DatesClock",
    "FilteredClock",
    "Filters",
    "IntervalClock",
    "Outcome",
    "ParameterSet",
    "RRuleClock",
    "Schedule",
]


def test_the_face_names_what_it_exports() -> None:
    assert sorted(clocks.__all__) == FACE
    assert set(clocks._FACE) == set(FACE)
    assert all(module.startswith("clocks.") for module in clocks._FACE.values())
    assert set(FACE) <= set(dir(clocks))


def test_from_clocks_import_the_face_gives_the_defining_classes() -> None:
    from clocks import ClockError, CronClock, DatesClock, IntervalClock, ParameterSet, Schedule
    from clocks.cron import CronClock as Defined

    assert CronClock is Defined
    assert ClockError.__module__ == "clocks.errors"
    assert DatesClock.__module__ == "clocks.dates"
    assert IntervalClock.__module__ == "clocks.interval"
    assert ParameterSet.__module__ == "clocks.parameters"
    assert Schedule.__module__ == "clocks.schedule"
    hourly = CronClock(name="hourly", expression="0 * * * *")
    assert hourly.next_fire(datetime(2026, 3, 1, 9, 30, tzinfo=UTC)) == datetime(
        2026, 3, 1, 10, 0, tzinfo=UTC
    )
    with pytest.raises(ClockError):
        CronClock(name="bad", expression="61 * * * *")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'clocks' has no attribute 'RruleClock'"):
        clocks.RruleClock  # noqa: B018
    with pytest.raises(ImportError):
        from clocks import Nothing  # type: ignore[attr-defined]  # noqa: F401


def _modules_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_clocks_loads_none_of_its_modules() -> None:
    loaded = _modules_after("import clocks")
    assert "clocks" in loaded
    assert not {m for m in loaded if m.startswith("clocks.")}
    assert not {"pendulum", "jsonschema", "jinja2"} & loaded


def test_a_name_loads_only_what_it_needs() -> None:
    loaded = _modules_after("from clocks import ClockError")
    assert "clocks.errors" in loaded
    assert not {"clocks.parameters", "clocks.cron", "jsonschema", "pendulum"} & loaded
