"""`[executors.NAME]`, a job's `executor` and `resources`, `[daemon] executor` and
`public_url` (spec 9), as `clockd check` sees them: no cluster, no `distributed` import."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.problems import ConfigError
from tests.helpers import ROOT, run_clockd

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CLUSTER = '[executors.cluster]\ndask = "tcp://dask.example:8786"\n'
JOB = '[jobs.report]\ncommand = ["true"]\n'


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "clockd.toml"
    path.write_text(text)
    return load_config(path, environ={}, now=NOW)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [p.render().replace(f"{tmp_path}/", "") for p in caught.value.problems]


REFUSALS = [
    (
        CLUSTER + JOB + 'executor = "clustr"\n',
        "clockd.toml: jobs.report.executor: unknown executor 'clustr' (did you mean 'cluster'?)",
    ),
    (
        JOB + 'executor = "gpu-farm"\n',
        "clockd.toml: jobs.report.executor: unknown executor 'gpu-farm': declare "
        "[executors.gpu-farm] or use one of: local",
    ),
    (
        CLUSTER + JOB + "resources = { GPU = 1 }\n",
        "clockd.toml: jobs.report.resources: resources are Dask worker resources, but this job "
        'runs on the local executor: set executor = "NAME" of an [executors.NAME], or remove '
        "resources",
    ),
    (
        CLUSTER + JOB + 'executor = "cluster"\nresources = { GPU = 0 }\n',
        "clockd.toml: jobs.report.resources.GPU: expected a positive number of 'GPU', got 0",
    ),
    (
        '[daemon]\nexecutor = "cluster"\n' + JOB,
        "clockd.toml: daemon.executor: unknown executor 'cluster': declare [executors.cluster] "
        "or use one of: local",
    ),
    (
        '[executors.cluster]\ndask = "http://dask.example"\n',
        "clockd.toml: executors.cluster.dask: invalid Dask scheduler address "
        "'http://dask.example': use 'tcp://HOST:PORT' (or tls://, ws://, wss://), such as "
        "'tcp://dask.example:8786'",
    ),
    (
        "[executors.cluster]\nmax_concurrent_runs = 2\n",
        'clockd.toml: executors.cluster: needs dask = "tcp://HOST:8786", the address of a '
        "Dask scheduler",
    ),
    (
        '[executors.cluster]\ndask = "tls://dask.example:8786"\ntls_cert = "client.pem"\n',
        "clockd.toml: executors.cluster: tls_cert and tls_key go together: give both or neither",
    ),
    (
        CLUSTER + 'tls_cert = "c.pem"\ntls_key = "k.pem"\n',
        "clockd.toml: executors.cluster.dask: TLS files are given but the address is tcp://: "
        "use tls://HOST:PORT",
    ),
    (
        '[executors.local]\ndask = "tcp://dask.example:8786"\n',
        "clockd.toml: executors.local: 'local' is the built-in executor (runs on this machine): "
        "pick another name",
    ),
    (
        CLUSTER + "[executors.cluster2]\ndask = 'tcp://x:1'\nretires = 1\n",
        "clockd.toml: executors.cluster2: unknown key 'retires': allowed keys are dask, "
        "tls_ca_file, tls_cert, tls_key, max_concurrent_runs, connect_timeout",
    ),
    (
        '[daemon]\npublic_url = "host-a:8787"\n',
        "clockd.toml: daemon.public_url: invalid URL 'host-a:8787': use this daemon's API "
        "address as workers reach it, such as 'http://host-a.example:8787'",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), REFUSALS, ids=lambda v: v.split(": ")[1] if ": " in v else None
)
def test_it_refuses_a_bad_executor_setting(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(tmp_path, text) == [expected]


def test_a_dask_job_gets_its_executor_resources_and_remote_workdir(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[daemon]\npublic_url = "http://host-a.example:8787/"\n'
        '[executors.cluster]\ndask = "tls://dask.example:8786"\ntls_ca_file = "ca.pem"\n'
        'tls_cert = "c.pem"\ntls_key = "k.pem"\nmax_concurrent_runs = 3\n'
        'connect_timeout = "3s"\n'
        '[jobs.gpu]\ncommand = ["train"]\nexecutor = "cluster"\nresources = { GPU = 1 }\n'
        'workdir = "/srv/models"\n'
        '[jobs.here]\ncommand = ["true"]\nworkdir = "sub"\n'
        '[jobs.relative]\ncommand = ["true"]\nexecutor = "cluster"\nworkdir = "sub"\n',
    )
    cluster = config.executors["cluster"]
    assert (cluster.dask, cluster.max_concurrent_runs) == ("tls://dask.example:8786", 3)
    assert cluster.connect_timeout == timedelta(seconds=3)
    assert cluster.tls_ca_file == tmp_path / "ca.pem"
    assert config.daemon.public_url == "http://host-a.example:8787"
    gpu, here, relative = config.jobs["gpu"], config.jobs["here"], config.jobs["relative"]
    assert (gpu.executor, dict(gpu.resources), gpu.remote_workdir) == (
        "cluster",
        {"GPU": 1.0},
        Path("/srv/models"),
    )
    assert (here.executor, here.remote_workdir) == ("local", None)
    # A relative workdir means the worker's own folder on a worker (spec 9).
    assert (relative.executor, relative.remote_workdir) == ("cluster", None)
    assert config.warnings == ()


def test_daemon_executor_is_the_default_of_jobs(tmp_path: Path) -> None:
    config = load(tmp_path, '[daemon]\nexecutor = "cluster"\n' + CLUSTER + JOB)
    assert config.jobs["report"].executor == "cluster"


def test_check_warns_about_a_dask_executor_without_public_url(tmp_path: Path) -> None:
    (tmp_path / "clockd.toml").write_text(CLUSTER + JOB + 'executor = "cluster"\n')
    checked = run_clockd("check", "-c", "clockd.toml", cwd=tmp_path)
    assert checked.returncode == 0
    assert checked.stdout == "1 job, 0 clocks OK\n"
    assert checked.stderr.startswith(
        "warning: clockd.toml: daemon: Dask executors are configured but public_url is not"
    )


def test_checking_a_dask_config_does_not_import_distributed(tmp_path: Path) -> None:
    (tmp_path / "clockd.toml").write_text(CLUSTER + JOB + 'executor = "cluster"\n')
    probe = (
        "import sys\nfrom scheduler.config import load_config\n"
        "load_config('clockd.toml')\nprint('distributed' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert done.stdout == "False\n"
