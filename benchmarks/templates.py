"""What a config template can cost under the budget (clocks/budget.py), and what the
counting costs an ordinary one.

    .venv/bin/python benchmarks/templates.py [--repeat 5]

Three tables, everything measured in this run:
1. hostile templates: the time one render takes until the budget stops it (best and worst
   of --repeat renders, compiled beforehand), the steps it used, and µs per step. The
   largest figure is the longest a config template can hold the daemon's loop.
2. ordinary templates: µs per render with the budget, against the same template in Jinja's
   plain ImmutableSandboxedEnvironment (the renderer before the budget).
3. `clockd check` of a config whose default is the issue's payload, against the same config
   with an ordinary default (median of --repeat whole-process runs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ISSUE = "{% set x = range(20000)|list %}{% for i in x %}{{ x|join(',')|length }}{% endfor %}"
NESTED = "{% for i in range(300) %}{% for j in range(300) %}BODY{% endfor %}{% endfor %}"

HOSTILE = {
    "the issue's payload": ISSUE,
    "nested ranges": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "`in` over a list, in a loop": "{% set x = range(20000)|list %}{% for i in x %}{% if i in x %}{% endif %}{% endfor %}",
    "`==` of lists, in a loop": "{% set x = range(20000)|list %}{% for i in x %}{% if x == x %}{% endif %}{% endfor %}",
    "slice copies, in a loop": "{% set x = range(20000)|list %}{% for i in x %}{% set y = x[:] %}{% endfor %}",
    "text doubling": "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "exponential macro": "{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% endif %}{% endmacro %}{{ m(30) }}",
    "nth_of (pendulum's slowest)": "{% for i in range(3000) %}{{ scheduled_time.nth_of('month', 3, 2) }}{% endfor %}",
    "closest (pendulum)": "{% for i in range(3000) %}{{ scheduled_time.closest(scheduled_time, scheduled_time) }}{% endfor %}",
    "in_timezone (pendulum)": "{% for i in range(3000) %}{{ scheduled_time.in_timezone('America/New_York') }}{% endfor %}",
    "format, in nested loops": NESTED.replace(
        "BODY", "{{ scheduled_time.format('YYYY-MM-DD HH:mm:ss ZZ dddd MMMM Do') }}"
    ),
    "add + to_date_string": NESTED.replace(
        "BODY", "{{ scheduled_time.add(days=j).to_date_string() }}"
    ),
    "attribute reads": NESTED.replace("BODY", "{{ scheduled_time.year }}"),
    "a method of text": NESTED.replace("BODY", "{{ 'abc'.upper() }}"),
    "arithmetic": NESTED.replace("BODY", "{{ i * j + i // (j + 1) }}"),
    "filters": NESTED.replace("BODY", "{{ i|string|upper|length }}"),
    "tojson": NESTED.replace("BODY", "{{ [i, j]|tojson }}"),
    "dictsort": "{% set d = dict(a=1) %}" + NESTED.replace("BODY", "{{ d|dictsort }}"),
    "macro calls": "{% macro m(a) %}{{ a }}{% endmacro %}" + NESTED.replace("BODY", "{{ m(i) }}"),
    "urlize": "{{ ('http://a.b ' * 3000)|urlize|length }}",
    "wordwrap": "{{ ('ab ' * 30000)|wordwrap(2) }}",
    "literal text in a loop": "{% for i in range(50000) %}" + "x" * 2000 + "{% endfor %}",
    "nested repetition": "{{ [[[[1] * 100] * 100] * 100] * 100 }}",
    "center(10**9)": "{{ 'a'|center(1000000000) }}",
    "format width 10**9": "{{ '{:>999999999}'.format(1) }}",
}

ORDINARY = {
    "yesterday": "{{ scheduled_time.subtract(days=1).to_date_string() }}",
    "format": "{{ scheduled_time.format('YYYYMMDD') }}",
    "argv item": "report-{{ x }}",
    "a year of days": "{% for d in range(365) %}{{ scheduled_time.add(days=d).format('MMDD') }},{% endfor %}",
}


def context() -> dict[str, Any]:
    from clocks.parameters import render_context

    return {
        **render_context(
            scheduled_time=datetime(2026, 3, 1, tzinfo=UTC),
            timezone="Europe/Berlin",
            job="report",
            clock="small",
            run_id=None,
        ),
        "x": 9,
    }


def steps_of(template: str, values: dict[str, Any]) -> int:
    """The steps one render of `template` uses (all of them when it is stopped)."""
    from clocks.budget import DEFAULT_BUDGET, METER, start_meter, stop_meter
    from clocks.templates import _compile

    token = start_meter(DEFAULT_BUDGET)
    try:
        _compile(template).render(values)
    except Exception:  # stopped: the reason is shown by the caller
        pass
    meter = METER.get()
    used = DEFAULT_BUDGET.steps - max(meter.left, 0) if meter is not None else 0
    stop_meter(token)
    return used


def hostile_rows(repeat: int) -> list[list[str]]:
    from clocks.templates import TemplateError, _compile, render

    values = context()
    rows = []
    for name, template in HOSTILE.items():
        _compile(template)
        times = []
        outcome = ""
        for _ in range(repeat):
            began = time.perf_counter()
            try:
                render(template, values)
                outcome = "rendered"
            except TemplateError as error:
                outcome = error.reason.split(" (")[0][:48]
            times.append(time.perf_counter() - began)
        used = steps_of(template, values)
        per_step = f"{1e6 * max(times) / used:.2f}" if used else "-"
        rows.append(
            [
                name,
                f"{1e3 * min(times):.1f}",
                f"{1e3 * max(times):.1f}",
                f"{used:,}",
                per_step,
                outcome,
            ]
        )
    return rows


def ordinary_rows(repeat: int) -> list[list[str]]:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from clocks.templates import render

    plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    values = context()
    rows = []
    for name, template in ORDINARY.items():
        compiled = plain.from_string(template)
        assert compiled.render(values) == render(template, values)
        count = 2000 if "year" not in name else 50
        budgeted, baseline = [], []
        for _ in range(repeat):
            began = time.perf_counter()
            for _ in range(count):
                render(template, values)
            budgeted.append((time.perf_counter() - began) / count)
            began = time.perf_counter()
            for _ in range(count):
                compiled.render(values)
            baseline.append((time.perf_counter() - began) / count)
        with_budget, without = statistics.median(budgeted), statistics.median(baseline)
        rows.append(
            [
                name,
                f"{steps_of(template, values):,}",
                f"{1e6 * with_budget:.1f}",
                f"{1e6 * without:.1f}",
                f"{with_budget / without:.2f}",
            ]
        )
    return rows


CONFIG = """
[daemon]
listen = ""

[jobs.echo]
command = ["echo", "{{{{ msg }}}}"]

[jobs.echo.parameters.msg]
type = "string"
default = "{default}"

[[jobs.echo.clocks]]
name = "every"
cron = "@daily"
"""


def check_rows(repeat: int) -> list[list[str]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for name, default in (
            ("the issue's payload as a default", ISSUE),
            ("an ordinary default (baseline)", "{{ scheduled_time.to_date_string() }}"),
        ):
            path = Path(folder) / "clockd.toml"
            path.write_text(CONFIG.format(default=default.replace('"', '\\"')))
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                done = subprocess.run(
                    [str(Path(sys.executable).parent / "clockd"), "check", "-c", str(path)],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                times.append(time.perf_counter() - began)
            results[name] = (statistics.median(times), done.returncode, done.stderr.strip())
        for name, (median, code, err) in results.items():
            shown = err.split("does not render: ")[-1][:60] if err else "OK"
            rows.append([name, f"{1e3 * median:.0f}", str(code), shown])
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    from clocks.budget import DEFAULT_BUDGET

    print(f"budget: {DEFAULT_BUDGET.steps:,} steps, {DEFAULT_BUDGET.output:,} characters\n")
    rows = hostile_rows(options.repeat)
    print(
        table(["hostile template", "best ms", "worst ms", "steps", "µs/step", "stopped by"], rows)
    )
    worst = max(rows, key=lambda row: float(row[2]))
    print(f"\nlongest hold of the loop: {worst[2]} ms ({worst[0]})\n")
    header = ["ordinary template", "steps", "µs with budget", "µs plain sandbox", "ratio"]
    print(table(header, ordinary_rows(options.repeat)))
    print()
    print(table(["clockd check", "median ms", "exit", "message"], check_rows(options.repeat)))


if __name__ == "__main__":
    main()
