"""`scheduler.web.metrics` on an isolated `Metrics()`: counters and the lateness histogram
after run events, reload gauges, and the gauges read from a real service at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.config import load_config
from scheduler.daemon.service import Service
from scheduler.running.executor import Executor
from scheduler.storage.reader import StoreReader
from scheduler.storage.records import NewRun
from scheduler.storage.sqlite.store import Store
from scheduler.storage.writer import StoreWriter
from scheduler.web.metrics import METRICS, Metrics

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

CONFIG = """
[daemon]
database = "{database}"

[jobs.report]
command = ["true"]

[[jobs.report.clocks]]
name = "hourly"
cron = "0 * * * *"

[[jobs.report.clocks]]
name = "daily"
cron = "0 9 * * *"

[jobs.other]
command = ["true"]

[[jobs.other.clocks]]
name = "often"
interval = "5m"
start = "2026-01-01T00:00:00+00:00"
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "clockd.db")
    yield opened
    opened.close()


def record(store: Store, *, job: str = "report", trigger: str = "clock", **extra: Any) -> Any:
    """A real run record; each fire at its own time (one run per fire)."""
    at = T0 + timedelta(minutes=len(store.list_runs(limit=1000)))
    run_id = store.create_run(
        NewRun(job=job, clock="hourly", trigger=trigger, scheduled_time=at, parameters={}, **extra)
    )
    return store.get_run(run_id)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_run_events_count_by_job_trigger_and_state(store: Store) -> None:
    metrics = Metrics()
    clock_run = record(store, lateness=0.3)
    api_run = record(store, trigger="api", lateness=0.0)
    metrics.observe_event("started", clock_run)
    metrics.observe_event("started", clock_run)
    metrics.observe_event("started", api_run)
    metrics.observe_event("log", clock_run)  # not counted
    clock_run.state = "succeeded"
    api_run.state = "failed"
    metrics.observe_event("finished", clock_run)
    metrics.observe_event("finished", api_run)
    assert sample(metrics, "clockd_runs_started_total", job="report", trigger="clock") == 2
    assert sample(metrics, "clockd_runs_started_total", job="report", trigger="api") == 1
    assert sample(metrics, "clockd_runs_finished_total", job="report", state="succeeded") == 1
    assert sample(metrics, "clockd_runs_finished_total", job="report", state="failed") == 1
    assert sample(metrics, "clockd_runs_finished_total", job="report", state="cancelled") is None


def test_lateness_of_fires_only_goes_into_the_histogram(store: Store) -> None:
    metrics = Metrics()
    metrics.observe_run_started(record(store, lateness=0.3))  # a fire, 300 ms late
    metrics.observe_run_started(record(store, trigger="catchup", lateness=42.0))
    metrics.observe_run_started(record(store, lateness=-0.01))  # early: counted as on time
    metrics.observe_run_started(record(store, trigger="manual", lateness=7.0))  # not a fire
    metrics.observe_run_started(record(store))  # lateness unknown
    name = "clockd_fire_lateness_seconds"
    assert sample(metrics, f"{name}_count") == 3
    assert sample(metrics, f"{name}_sum") == pytest.approx(42.3)
    assert sample(metrics, f"{name}_bucket", le="0.005") == 1  # the early one, as 0
    assert sample(metrics, f"{name}_bucket", le="0.25") == 1
    assert sample(metrics, f"{name}_bucket", le="0.5") == 2
    assert sample(metrics, f"{name}_bucket", le="30.0") == 2
    assert sample(metrics, f"{name}_bucket", le="60.0") == 3
    assert sample(metrics, f"{name}_bucket", le="+Inf") == 3


def test_reloads_set_the_last_result_and_its_time() -> None:
    metrics = Metrics()
    assert sample(metrics, "clockd_last_reload_success") == 1
    metrics.observe_reload(ok=False, when=1_772_355_600.0)
    assert sample(metrics, "clockd_last_reload_success") == 0
    assert sample(metrics, "clockd_last_reload_timestamp_seconds") == 1_772_355_600.0
    metrics.observe_reload(ok=True, when=1_772_355_660.0)
    assert sample(metrics, "clockd_last_reload_success") == 1


def test_a_scrape_reads_the_present_from_the_service(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text(CONFIG.replace("{database}", str(tmp_path / "clockd.db")))
    config = load_config(path, environ={})
    writer = StoreWriter(store)  # never started: a scrape reads, it writes nothing
    reader = StoreReader(lambda: Store.open(config.daemon.database, readonly=True))
    executor = Executor(writer, config.daemon, api_url=None, child_token=None)
    service = Service(config, writer, reader, executor)
    metrics = Metrics()
    text = metrics.render(service).decode()
    assert sample(metrics, "clockd_jobs_loaded") == 2
    assert sample(metrics, "clockd_clocks_loaded") == 3
    assert sample(metrics, "clockd_active_runs") == 0
    assert sample(metrics, "clockd_pending_runs") == 0
    assert "clockd_clocks_loaded 3.0" in text
    assert "# TYPE clockd_fire_lateness_seconds histogram" in text
    assert sample(metrics, "clockd_store_writable") == 1
    reader.close()


def test_an_isolated_metrics_leaves_the_daemons_alone(store: Store) -> None:
    before = METRICS.registry.get_sample_value(
        "clockd_runs_started_total", {"job": "isolated", "trigger": "clock"}
    )
    Metrics().observe_run_started(record(store, job="isolated"))
    after = METRICS.registry.get_sample_value(
        "clockd_runs_started_total", {"job": "isolated", "trigger": "clock"}
    )
    assert before is None
    assert after is None
