"""clocks.resolution.Resolver: spec 2.1's layers for one clock, worked out once per clock;
secret parameters at trigger time; the interval anchor asked of the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clocks.cron import CronClock
from clocks.dates import DatesClock
from clocks.durations import parse_duration
from clocks.interval import IntervalClock
from clocks.parameters import ParameterError, ParameterSet
from clocks.resolution import Resolver

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
PARAMETERS = ParameterSet.from_declarations(
    {
        "x": {"type": "integer"},
        "day": {
            "type": "date",
            "default": "{{ scheduled_time.subtract(days=1).to_date_string() }}",
        },
        "name": {"type": "string", "default": "plain"},
        "key": {
            "type": "string",
            "secret": True,
            "default": "env:A_KEY",
            "references": ["env:A_KEY", "env:B_KEY"],
        },
    }
)


def test_a_fire_gets_defaults_then_the_clock_values_then_what_is_given() -> None:
    resolver = Resolver("report", PARAMETERS, clock="small", timezone="UTC", values={"x": 9})
    assert resolver.resolve(MARCH).values == {
        "x": 9,
        "day": "2026-02-28",
        "name": "plain",
        "key": "env:A_KEY",
    }
    given = resolver.resolve(MARCH, given={"x": 3, "name": "{{ job }}", "key": "env:B_KEY"})
    assert given.values == {"x": 3, "day": "2026-02-28", "name": "{{ job }}", "key": "env:B_KEY"}
    assert given.masked()["key"] == "***"


def test_what_renders_is_decided_once_per_clock() -> None:
    dynamic = Resolver("report", PARAMETERS, values={"x": 1})
    assert (dynamic.renders, dynamic.uses_run_id) == (True, False)
    # a clock that replaces the only dynamic default has nothing to render: no pendulum time
    static = Resolver("report", PARAMETERS, values={"x": 1, "day": "2026-01-01"})
    assert (static.renders, static.uses_run_id) == (False, False)
    assert static.resolve(MARCH).values["day"] == "2026-01-01"
    with_id = Resolver("report", PARAMETERS, values={"x": 1, "name": "run-{{ run_id }}"})
    assert (with_id.renders, with_id.uses_run_id) == (True, True)
    assert with_id.resolve(MARCH, run_id=42).values["name"] == "run-42"


def test_a_clock_lends_its_name_zone_and_values() -> None:
    clock = CronClock(
        name="late",
        expression="30 23 * * *",
        timezone="Pacific/Auckland",
        parameter_defaults={"x": 5},
    )
    resolver = Resolver.for_clock("report", PARAMETERS, clock)
    # 2026-03-01T00:00Z is 13:00 in Auckland: "yesterday" there is Feb 28
    assert resolver.resolve(MARCH).values["day"] == "2026-02-28"
    assert (resolver.clock, resolver.timezone, resolver.values) == (
        "late",
        "Pacific/Auckland",
        {"x": 5},
    )


@pytest.mark.parametrize("reference", ["file:/etc/hostname", "env:HOME", "env:A_KEY "])
def test_a_secret_takes_at_trigger_time_only_its_default_or_a_listed_reference(
    reference: str,
) -> None:
    resolver = Resolver("report", PARAMETERS, values={"x": 1})
    with pytest.raises(ParameterError) as caught:
        resolver.resolve(MARCH, given={"key": reference})
    [problem] = caught.value.problems
    assert (problem.name, problem.kind) == ("key", "secret")
    assert problem.message == (
        "secret parameter 'key' takes at trigger time only one of the references the config "
        "lists: env:A_KEY, env:B_KEY"
    )


def test_the_config_layers_are_trusted_with_any_reference() -> None:
    resolver = Resolver("report", PARAMETERS, values={"x": 1, "key": "file:/run/secrets/k"})
    assert resolver.resolve(MARCH).values["key"] == "file:/run/secrets/k"


def test_a_secret_without_default_or_references_takes_nothing_at_trigger_time() -> None:
    parameters = ParameterSet.from_declarations({"key": {"type": "string", "secret": True}})
    assert Resolver("j", parameters, values={"key": "env:K"}).resolve(MARCH).values == {
        "key": "env:K"
    }
    with pytest.raises(ParameterError) as caught:
        Resolver("j", parameters).resolve(MARCH, given={"key": "env:K"})
    assert [p.kind for p in caught.value.problems] == ["secret"]
    assert parameters.json_schema()["properties"]["key"] == {"type": "string", "x-secret": True}


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (
            {"type": "string", "secret": True, "default": "env:A", "references": ["env:B"]},
            "secret parameter 'key': default 'env:A' is not one of its references; add it to "
            "references (or remove references to allow the default only)",
        ),
        (
            {"type": "string", "secret": True, "references": "env:B"},
            "secret parameter 'key': references must be a list of texts such as "
            '["env:A_KEY", "file:/etc/clockd/b-key"]',
        ),
        (
            {"type": "string", "secret": True, "references": ["env:B", "s3cret"]},
            "secret parameter 'key': references[1] is not a reference: write env:NAME or file:PATH",
        ),
        (
            {"type": "string", "references": ["env:B"]},
            "parameter 'key': references apply only to a secret parameter (secret = true)",
        ),
    ],
    ids=["default-not-listed", "not-a-list", "a-literal", "not-secret"],
)
def test_references_are_checked_at_load(declaration: dict, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        ParameterSet.from_declarations({"key": declaration})
    assert [p.message for p in caught.value.problems] == [message]
    assert "s3cret" not in str(caught.value)


def test_the_schema_lists_a_secrets_choices() -> None:
    assert PARAMETERS.json_schema()["properties"]["key"]["enum"] == ["env:A_KEY", "env:B_KEY"]


# -- the anchor ------------------------------------------------------------------------------


def test_only_an_interval_clock_without_start_needs_an_anchor() -> None:
    five = parse_duration("5m")
    unanchored = IntervalClock(name="u", interval=five)
    anchored = IntervalClock(name="a", interval=five, start=MARCH)
    cron = CronClock(name="c", expression="0 * * * *")
    dates = DatesClock(name="d", dates=(MARCH,))
    assert [c.needs_anchor for c in (unanchored, anchored, cron, dates)] == [
        True,
        False,
        False,
        False,
    ]
    moment = MARCH + timedelta(seconds=7, microseconds=500)
    assert unanchored.anchored(moment).start == MARCH + timedelta(seconds=7)
    assert not unanchored.anchored(moment).needs_anchor
    for clock in (anchored, cron, dates):
        assert clock.anchored(moment) is clock
