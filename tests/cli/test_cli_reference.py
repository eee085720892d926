"""docs/cli.md documents every command, with option lists generated from the commands."""

from __future__ import annotations

import pytest

from scheduler.cli.reference import commands, missing, options_block, rewrite
from tests.conftest import ROOT

CLI_MD = ROOT / "docs" / "cli.md"


@pytest.mark.parametrize("name", [name for name, _ in commands()])
def test_every_command_has_a_section_in_docs_cli(name: str) -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    assert f"## `clockd {name}`" in text
    assert f"<!-- options: {name} -->" in text


def test_the_option_lists_are_those_of_the_commands() -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    assert missing(text) == []
    assert rewrite(text) == text, (
        "docs/cli.md is stale: run .venv/bin/python -m scheduler.cli.reference docs/cli.md"
    )


def test_an_option_block_names_every_option_and_its_help() -> None:
    known = dict(commands())
    block = options_block("runs", known["runs"])
    assert block.startswith("```\nclockd runs [OPTIONS]\n```")
    for option in ("--job", "--clock", "--state", "--limit", "--json", "--wide", "--url"):
        assert f"`{option}`" in block
    assert "Only this job's runs." in block


def test_a_stale_block_is_rewritten() -> None:
    stale = "## `clockd show`\n<!-- options: show -->\nSTALE TEXT\n<!-- end options -->\n"
    fresh = rewrite(stale)
    assert "STALE TEXT" not in fresh
    assert "`RUN_ID` | argument, required" in fresh
