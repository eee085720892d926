"""The soak's short version (`benchmarks/soak.py`, about a minute): a real `clockd serve`
killed with SIGKILL at random moments, also right after a burst instant, and restarted; then
every fire ran exactly once per its clock's catch-up rule, no run is left pending or
running, and no process of a run outlived its daemon."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("clockd_soak", ROOT / "benchmarks" / "soak.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_minute_of_kill_9_loses_no_fire_runs_none_twice_and_leaves_no_orphan(
    tmp_path: Path,
) -> None:
    soak = load_soak()
    said: list[str] = []
    figures = soak.soak(0.8, seed=12, folder=tmp_path, say=said.append)
    assert figures.problems == []
    assert (figures.lost, figures.duplicated, figures.unexpected) == (0, 0, 0)
    assert (figures.orphans, figures.unfinished) == (0, 0)
    assert figures.kills >= 5, said
    assert figures.after_burst >= 1
    assert figures.expected > 300
    # crashes happened, with runs whose processes were known gone: retried as attempt 2
    assert figures.crashed + figures.retried > 0
    assert figures.retried > 0
