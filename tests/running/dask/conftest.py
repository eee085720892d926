"""Fixtures with a real Dask cluster. Without `distributed` installed these tests are
skipped, loudly, unless CLOCKD_REQUIRE_DASK=1 (set by .ci/run) makes that a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.running.dask.cluster import DaskCluster

HAVE_DASK = find_spec("distributed") is not None
REQUIRED = os.environ.get("CLOCKD_REQUIRE_DASK") == "1"
# What only the workers' environment holds: a secret resolved on a worker, never the daemon.
WORKER_SECRET = "worker-only-secret-4711"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAVE_DASK:
        return
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent != here:
            continue
        if REQUIRED:
            item.add_marker(pytest.mark.usefixtures("_require_dask"))
        else:
            item.add_marker(
                pytest.mark.skip(
                    reason="DASK TESTS SKIPPED: distributed is not installed "
                    "(pip install -e '.[test]'); set CLOCKD_REQUIRE_DASK=1 to make this a failure"
                )
            )


@pytest.fixture
def _require_dask() -> None:
    pytest.fail("CLOCKD_REQUIRE_DASK=1 but distributed is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A scheduler and two workers ("w1", "w2"), shared by the tests of a module."""
    cluster = DaskCluster(
        tmp_path_factory.mktemp("dask"), env={"CLOCKD_WORKER_SECRET": WORKER_SECRET}
    )
    try:
        yield cluster.start(("w1", "w2"))
    finally:
        cluster.stop()
