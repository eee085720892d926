"""clocks.templates: dynamic values rendered in a Jinja2 sandbox, refused in words."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from clocks.errors import ClockError
from clocks.parameters import render_context
from clocks.templates import TemplateError, check_template, is_dynamic, render
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{ x }}", True),
        ("report-{{x}}-{{ y }}", True),
        ("{{", True),
        ("plain text", False),
        ("{% if x %}y{% endif %}", False),  # only "{{" marks a dynamic value
        ("env:API_KEY", False),
        (3, False),
        (None, False),
        (["{{ x }}"], False),  # containers are never rendered
    ],
    ids=[
        "var",
        "two-vars",
        "bare-braces",
        "plain",
        "statement-only",
        "reference",
        "int",
        "none",
        "list",
    ],
)
def test_is_dynamic(value: object, expected: bool) -> None:
    assert is_dynamic(value) is expected


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("report-{{ x }}", {"x": 9}, "report-9"),
        ("{{ a }}-{{ b }}", {"a": "l", "b": 2}, "l-2"),
        ("<b>{{ s }}</b>", {"s": "&<'\""}, "<b>&<'\"</b>"),  # no HTML escaping: values are not HTML
        ("{{ items | join(',') }}", {"items": ["a", "b"]}, "a,b"),
        ("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 3 * 2 }}", {}, "1024 ababab 6"),
        ("{% if flag %}on{% else %}off{% endif %}", {"flag": False}, "off"),
        ("line\n", {}, "line\n"),  # trailing newline kept
    ],
    ids=[
        "one-var",
        "two-vars",
        "no-autoescape",
        "filter",
        "arithmetic",
        "statement",
        "trailing-newline",
    ],
)
def test_render(template: str, context: dict[str, object], expected: str) -> None:
    assert render(template, context) == expected


def test_render_is_cached_and_repeatable() -> None:
    context = {"x": 1}
    assert [render("{{ x + 1 }}", context) for _ in range(3)] == ["2", "2", "2"]
    assert render("{{ x + 1 }}", {"x": 41}) == "42"


def test_undefined_name_is_refused_in_words() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ nope }}", {})
    assert str(caught.value) == "dynamic value '{{ nope }}' does not render: 'nope' is undefined"
    assert caught.value.reason == "'nope' is undefined"
    assert caught.value.value == "{{ nope }}"
    assert isinstance(caught.value, ClockError)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ ''.__class__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "access to attribute '__class__' of 'str' object is unsafe",
        ),
        (
            "{{ x.__init__.__globals__ }}",
            "access to attribute '__init__' of 'int' object is unsafe",
        ),
        (
            "{{ '{0.__class__}'.format(1) }}",
            "access to attribute '__class__' of 'int' object is unsafe",
        ),
        ("{{ items.append(1) }}", "access to attribute 'append' of 'list' object is unsafe"),
        ("{{ mapping.update(a=1) }}", "access to attribute 'update' of 'dict' object is unsafe"),
        ("{{ 'a' * 10 ** 9 }}", "repeating a sequence 1000000000 times is too large"),
        ("{{ 7 ** 100000 }}", "the exponent 100000 is too large"),
    ],
    ids=[
        "class",
        "subclasses",
        "globals",
        "format-string",
        "mutate-list",
        "mutate-dict",
        "huge-string",
        "huge-power",
    ],
)
def test_sandbox_refuses_escapes_with_a_message(template: str, reason: str) -> None:
    context = {"x": 1, "items": [], "mapping": {}}
    with pytest.raises(TemplateError) as caught:
        render(template, context)
    message = str(caught.value)
    assert message.startswith(f"dynamic value '{template}' does not render: {reason}")
    assert message.endswith("templates run in a sandbox")
    assert context == {"x": 1, "items": [], "mapping": {}}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ x",
            "dynamic value '{{ x' does not render: syntax error: unexpected end of template, expected 'end of print statement'",
        ),
        (
            "{{ 1 / 0 }}",
            "dynamic value '{{ 1 / 0 }}' does not render: division by zero (ZeroDivisionError)",
        ),
        (
            "{{ x.missing }}",
            "dynamic value '{{ x.missing }}' does not render: 'int object' has no attribute 'missing'",
        ),
        (
            "{{ range(10 ** 6) | list }}",
            "dynamic value '{{ range(10 ** 6) | list }}' does not render: Range too big. The sandbox blocks ranges "
            "larger than MAX_RANGE (100000) (OverflowError)",
        ),
    ],
    ids=["syntax", "zero-division", "missing-attribute", "huge-range"],
)
def test_errors_inside_a_template_are_phrased(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, {"x": 1})
    assert str(caught.value) == message


def test_an_error_from_a_called_method_is_phrased() -> None:
    context = render_context(
        scheduled_time=datetime(2026, 3, 1, tzinfo=UTC),
        timezone="UTC",
        job="j",
        clock=None,
        run_id=None,
    )
    with pytest.raises(TemplateError, match=r"^dynamic value .* does not render: .*TypeError\)$"):
        render("{{ scheduled_time.subtract(dayz=1) }}", context)


def test_a_long_template_is_shortened_in_the_message() -> None:
    template = "{{ nope }}" + "x" * 500
    with pytest.raises(TemplateError) as caught:
        render(template, {})
    assert len(str(caught.value)) < 200
    assert "…" in str(caught.value)
    assert caught.value.value == template  # the whole text stays available


def test_pendulum_scheduled_time_in_the_clock_zone() -> None:
    # 2026-03-01T23:30Z is already March 2nd in Berlin (+01:00 in winter).
    context = render_context(
        scheduled_time=datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
        timezone="Europe/Berlin",
        job="report",
        clock="nightly",
        run_id=7,
    )
    assert render("{{ scheduled_time.format('YYYYMMDD') }}", context) == "20260302"
    assert render("{{ scheduled_time.subtract(days=1).to_date_string() }}", context) == "2026-03-01"
    assert render("{{ scheduled_time.isoformat() }}", context) == "2026-03-02T00:30:00+01:00"
    assert render("{{ job }}/{{ clock }}/{{ run_id }}", context) == "report/nightly/7"


@pytest.mark.parametrize(
    ("template", "names", "message"),
    [
        (
            "{{ nope }}",
            ["scheduled_time"],
            "dynamic value '{{ nope }}' does not render: 'nope' is undefined",
        ),
        (
            "{{ a }}{{ b }}{{ c }}",
            ["a"],
            "dynamic value '{{ a }}{{ b }}{{ c }}' does not render: 'b', 'c' are undefined",
        ),
        (
            "{{ a",
            None,
            "dynamic value '{{ a' does not render: syntax error: unexpected end of template, expected 'end of print statement'",
        ),
    ],
    ids=["unknown-name", "two-unknown-names", "syntax"],
)
def test_check_template_refuses_before_any_run(
    template: str, names: list[str] | None, message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template(template, names=names)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("template", "names"),
    [
        ("{{ scheduled_time.format('YYYY') }}", ["scheduled_time"]),
        ("{% set d = 1 %}{{ d }}", []),  # names set inside the template are its own
        ("{% for i in range(2) %}{{ loop.index }}{% endfor %}", []),  # and Jinja's globals
        ("{{ anything }}", None),  # without names, only the syntax is checked
    ],
    ids=["known-name", "local-name", "globals", "syntax-only"],
)
def test_check_template_accepts(template: str, names: list[str] | None) -> None:
    assert check_template(template, names=names) is None


def test_importing_the_model_does_not_import_jinja2_pendulum_or_jsonschema() -> None:
    code = (
        "import sys, clocks.templates, clocks.parameters, clocks.values\n"
        "heavy = {'jinja2', 'pendulum', 'jsonschema'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
