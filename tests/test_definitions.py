"""One definition of each meaning: the constants several modules need are defined once
and imported elsewhere (issue 11: FINAL_STATES, the catchup policies, the default listen
address were each written twice)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

SOURCES = sorted((ROOT / "clocks").rglob("*.py")) + sorted((ROOT / "scheduler").rglob("*.py"))


def assignments(name: str) -> list[str]:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign) and node.value is not None
                else []
            )
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.append(str(path.relative_to(ROOT)))
    return found


def literals(value: object) -> list[str]:
    """Files holding `value` as a literal (a string, or a tuple of strings)."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            try:
                if isinstance(node, ast.Constant | ast.Tuple) and ast.literal_eval(node) == value:
                    found.append(str(path.relative_to(ROOT)))
            except ValueError:
                continue
    return sorted(set(found))


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("FINAL_STATES", "scheduler/models.py"),
        ("DEFAULT_LISTEN", "scheduler/models.py"),
        ("CATCHUP_POLICIES", "clocks/base.py"),
    ],
)
def test_a_constant_is_defined_once(name: str, home: str) -> None:
    assert assignments(name) == [home]


@pytest.mark.parametrize(
    ("value", "home"),
    [
        ("127.0.0.1:8787", "scheduler/models.py"),
        (("none", "latest", "all"), "clocks/base.py"),
    ],
)
def test_its_value_is_written_once(value: object, home: str) -> None:
    assert literals(value) == [home]


def test_there_is_one_config_lookup() -> None:
    users = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        if 'clockd.toml")' in path.read_text() or '/etc/clockd/clockd.toml")' in path.read_text()
    ]
    assert users == ["scheduler/config/find.py"]
