"""docs/api.md documents every route of the API, and links nowhere outside the repository."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

API_MD = ROOT / "docs" / "api.md"
ROUTES = re.findall(r'Route\("(/[^"]+)"', (ROOT / "scheduler" / "web" / "api.py").read_text())


def test_the_routes_were_found() -> None:
    assert "/api/v1/runs/{run_id}/logs" in ROUTES


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_is_documented(path: str) -> None:
    # the docs name the actions a route takes ({action}: pause and resume) and say {id}
    documented = path.replace("{action}", "pause").replace("{run_id}", "{id}")
    assert documented in API_MD.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["api.md", "cli.md", "config.md"])
def test_the_references_link_only_inside_the_repository(name: str) -> None:
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert re.findall(r"https?://", text) == []
    for target in re.findall(r"\]\(([^)#]+)", text):
        assert (ROOT / "docs" / target).exists(), target
