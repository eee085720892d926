"""The template budget (clocks/budget.py, clocks/sandbox.py): a config template that would
hold the daemon's loop is stopped by counting, inside the render, with a clear reason;
ordinary templates are not touched. Time is not asserted here: benchmarks/templates.py
measures what the worst of these cost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clocks.budget import Budget
from clocks.parameters import ParameterError, ParameterSet, render_context
from clocks.templates import TemplateError, render

CONTEXT = render_context(
    scheduled_time=datetime(2026, 3, 1, tzinfo=UTC),
    timezone="Europe/Berlin",
    job="report",
    clock="small",
    run_id=None,
)
ISSUE = "{% set x = range(20000)|list %}{% for i in x %}{{ x|join(',')|length }}{% endfor %}"
STEPS = "it needs more than the 50,000 steps a template may take"


def reason_of(template: str, budget: Budget | None = None) -> str:
    with pytest.raises(TemplateError) as caught:
        render(template, CONTEXT) if budget is None else render(template, CONTEXT, budget=budget)
    return caught.value.reason


# Each holds the loop for seconds to hours without the budget (the issue's payload: 47 s).
@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (ISSUE, STEPS),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", STEPS),
        (
            "{% set x = range(20000)|list %}{% for i in x %}{% if i in x %}{% endif %}{% endfor %}",
            STEPS,
        ),
        ("{% set x = range(20000)|list %}{% for i in x %}{% set y = x[:] %}{% endfor %}", STEPS),
        (
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}",
            STEPS,
        ),
        (
            "{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% endif %}{% endmacro %}{{ m(30) }}",
            STEPS,
        ),
        ("{% for i in range(3000) %}{{ scheduled_time.nth_of('month', 3, 2) }}{% endfor %}", STEPS),
        ("{% for i in range(50000) %}" + "x" * 2000 + "{% endfor %}", STEPS),
        ("{{ [[[[1] * 100] * 100] * 100] * 100 }}", STEPS),
        ("{{ ('ab ' * 30000)|wordwrap(2) }}", STEPS),
        ("{{ 'a'|center(1000000000) }}", "it would build a text of 1,000,000,001 characters"),
        ("{{ 'a'.ljust(1000000000) }}", "it would build a text of 1,000,000,001 characters"),
        ("{{ '%0999999999d' % 1 }}", "it would build a text of 1,000,000,035 characters"),
        ("{{ '{:>999999999}'.format(1) }}", "it would build a text of 1,000,000,023 characters"),
        ("{% set s = 'a' * 100000 %}{{ s.replace('a', s) }}", "it would build a text of"),
        ("{% set s = 'a' * 100000 %}{{ ([s] * 1000)|join }}", "it would build a text of"),
        ("{{ [1]|batch(1000000000, 0)|list }}", "it would build a text of"),
        ("{{ range(1000)|list|tojson(indent=1000000) }}", "it would build a text of"),
        ("{{ lipsum(1000000) }}", "'lipsum' is undefined"),
        ("{{ (2 ** 4096) ** 4096 }}", "the power 4096 is too large"),
        (
            "{% set ns = namespace(n=2 ** 4000) %}{% for i in range(100) %}"
            "{% set ns.n = ns.n * ns.n %}{% endfor %}",
            "a product of more than 65,536 bits is too large",
        ),
        ("{% for i in [1] recursive %}{{ loop([1, 1]) }}{% endfor %}", "it nests calls too deeply"),
    ],
    ids=[
        "issue-payload",
        "nested-ranges",
        "in-a-list-in-a-loop",
        "slice-in-a-loop",
        "doubling-text",
        "exponential-macro",
        "slow-pendulum-calls",
        "literal-text-in-a-loop",
        "nested-repetition",
        "wordwrap",
        "center-filter",
        "ljust-method",
        "percent-width",
        "format-width",
        "replace",
        "join",
        "batch-fill",
        "tojson-indent",
        "lipsum",
        "huge-power",
        "huge-product",
        "recursive-loop",
    ],
)
def test_a_template_that_would_hold_the_loop_is_stopped_with_its_reason(
    template: str, reason: str
) -> None:
    assert reason_of(template).startswith(reason)


def test_constant_filters_are_not_run_while_compiling_outside_the_budget() -> None:
    # Jinja folds constant expressions at compile time, before any meter exists.
    assert reason_of("{{ 'a'|center(1000000000)|length }}").startswith(
        "it would build a text of 1,000,000,001 characters"
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ scheduled_time.subtract(days=1).to_date_string() }}", "2026-02-28"),
        ("{{ scheduled_time.format('YYYYMMDD') }}-{{ job }}", "20260301-report"),
        (
            "{% for d in range(365) %}{{ scheduled_time.add(days=d).format('MMDD') }}"
            "{% if not loop.last %},{% endif %}{% endfor %}",
            None,
        ),
        ("{{ range(3)|map('string')|join(',') }}", "0,1,2"),
        (
            "{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
            "6",
        ),
        ("{{ {'a': [1, 2]}|tojson }}", '{"a": [1, 2]}'),
        ("{{ '%05d' % 42 }}|{{ '{:>4}'.format(7) }}", "00042|   7"),
        ("{{ nope|default('d') }}", "d"),
        ("{{ 2 ** 100 }}", str(2**100)),
    ],
    ids=[
        "yesterday",
        "format",
        "a-year-of-days",
        "map-join",
        "namespace",
        "tojson",
        "formats",
        "default",
        "power",
    ],
)
def test_ordinary_templates_render_within_the_budget(template: str, expected: str | None) -> None:
    text = render(template, CONTEXT)
    if expected is not None:
        assert text == expected
    else:
        assert text.split(",")[:2] == ["0301", "0302"]
        assert len(text.split(",")) == 365


def test_the_budget_is_per_render_and_can_be_set() -> None:
    tight = Budget(steps=200)
    assert reason_of("{% for i in range(300) %}{% endfor %}", tight).startswith(
        "it needs more than the 200 steps"
    )
    # the next render starts with a full budget again
    assert render("{% for i in range(300) %}{% endfor %}", CONTEXT) == ""
    small = Budget(output=10)
    assert reason_of("{{ 'x' * 11 }}", small).startswith("it would build a text of 11 characters")


def test_a_default_over_the_budget_is_a_render_problem_of_that_parameter() -> None:
    parameters = ParameterSet.from_declarations({"msg": {"type": "string", "default": ISSUE}})
    with pytest.raises(ParameterError) as caught:
        parameters.resolve(context=CONTEXT)
    [problem] = caught.value.problems
    assert (problem.name, problem.kind) == ("msg", "render")
    assert STEPS in problem.message
