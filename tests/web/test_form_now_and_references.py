"""The UI run form at a given `now` (a dynamic default shown as it renders) and a secret's
listed references, without a server."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from scheduler.config import load_config
from scheduler.web.forms import convert_form, form_fields

CONFIG = """
[daemon]
database = "clockd.db"
listen = ""
timezone = "Europe/Berlin"

[jobs.report]
command = ["true"]

[jobs.report.parameters.day]
type = "date"
default = "{{ scheduled_time.subtract(days=1).to_date_string() }}"

[jobs.report.parameters.n]
type = "integer"
default = 1

[jobs.report.parameters.key]
type = "string"
secret = true
default = "env:A_KEY"
references = ["env:A_KEY", "env:B_KEY"]

[jobs.report.parameters.token]
type = "string"
secret = true
"""


def job(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "clockd.toml"
    path.write_text(textwrap.dedent(CONFIG))
    return load_config(path).jobs["report"]


def test_a_dynamic_default_is_shown_as_it_renders_at_the_given_now(tmp_path: Path) -> None:
    # 23:30 UTC on March 1st is already March 2nd in Berlin
    fields = {
        f["name"]: f
        for f in form_fields(
            job(tmp_path), "Europe/Berlin", datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
        )
    }
    assert fields["day"]["placeholder"] == "2026-03-01"
    assert fields["day"]["hint"] == "default now: 2026-03-01"


def test_a_secret_offers_only_the_references_the_config_lists(tmp_path: Path) -> None:
    fields = {
        f["name"]: f for f in form_fields(job(tmp_path), "UTC", datetime(2026, 3, 1, tzinfo=UTC))
    }
    assert (fields["key"]["input"], fields["key"]["options"]) == (
        "select",
        ["env:A_KEY", "env:B_KEY"],
    )
    assert fields["key"]["value"] == "env:A_KEY"
    assert fields["token"]["input"] == "text"
    assert fields["token"]["hint"] == "the config lists no references a run may choose"


def test_posted_text_with_a_template_is_data(tmp_path: Path) -> None:
    values, errors, _ = convert_form(job(tmp_path), [("p.n", "{{ 7*7 }}"), ("p.day", "2026-01-02")])
    assert values == {"day": "2026-01-02"}
    assert errors == {"n": ["parameter 'n': '{{ 7*7 }}' is not an integer (write it like 42)"]}
