"""House rule: a module over 400 lines says at its top why it is long (issue 11).

Small modules named for what they hold are how a newcomer finds their way; a long one must
defend itself where a reader lands, in its docstring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 400
MODULES = sorted(
    [*ROOT.joinpath("scheduler").rglob("*.py"), *ROOT.joinpath("clocks").rglob("*.py")]
)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_long_module_says_why_at_its_top(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if text.count("\n") <= LIMIT:
        return
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert "Why this module is long:" in docstring, (
        f"{path.relative_to(ROOT)} has {text.count(chr(10))} lines: split it, or say at its "
        "top why it is long"
    )


def test_the_executor_holds_policy_only() -> None:
    """Issue 11: the executor keeps policy (queue, slots, overlap, retries, cancel, hooks
    order) and stays under 300 lines; the rest lives in the run backend and its helpers."""
    lines = ROOT.joinpath("scheduler/running/executor.py").read_text().count("\n")
    assert lines < 300, lines
