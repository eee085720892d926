"""Prometheus metrics on a registry of clockd's own (never the process-global one).

The daemon and the executor report events with the module-level functions; gauges that
describe the present (active runs, queue, clocks) are read from the `Service` at scrape time.

    from scheduler.web import metrics
    executor = Executor(..., on_event=metrics.observe_event)   # "started" / "finished" / "log"
    metrics.observe_reload(ok=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from scheduler.storage.sqlite.store import RunRecord

__all__ = [
    "CONTENT_TYPE",
    "Metrics",
    "observe_event",
    "observe_fire_lateness",
    "observe_reload",
    "observe_run_finished",
    "observe_run_started",
    "render",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Lateness of a fire: from its scheduled time to the start of its run.
LATENESS_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


class Metrics:
    """One set of clockd metrics with its own `CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs_started = Counter(
            "clockd_runs_started",
            "Runs that started executing, by job and trigger.",
            ["job", "trigger"],
            registry=self.registry,
        )
        self.runs_finished = Counter(
            "clockd_runs_finished",
            "Runs that reached a final state, by job and state.",
            ["job", "state"],
            registry=self.registry,
        )
        self.fire_lateness = Histogram(
            "clockd_fire_lateness_seconds",
            "Seconds from a fire's scheduled time to the start of its run.",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.active_runs = Gauge(
            "clockd_active_runs", "Runs executing now.", registry=self.registry
        )
        self.pending_runs = Gauge(
            "clockd_pending_runs", "Runs waiting for a slot.", registry=self.registry
        )
        self.clocks_loaded = Gauge(
            "clockd_clocks_loaded", "Clocks in the loaded config.", registry=self.registry
        )
        self.jobs_loaded = Gauge(
            "clockd_jobs_loaded", "Jobs in the loaded config.", registry=self.registry
        )
        self.reload_success = Gauge(
            "clockd_last_reload_success",
            "1 if the last config (re)load succeeded, 0 if it was refused.",
            registry=self.registry,
        )
        self.reload_time = Gauge(
            "clockd_last_reload_timestamp_seconds",
            "Unix time of the last config (re)load attempt.",
            registry=self.registry,
        )
        self.store_writable = Gauge(
            "clockd_store_writable",
            "1 while the store accepts writes, 0 while they fail (they are kept and retried).",
            registry=self.registry,
        )
        self.store_write_failures = Counter(
            "clockd_store_write_failures",
            "Write attempts the store refused (locked, full, unreachable); each is retried.",
            registry=self.registry,
        )
        self.store_writes_waiting = Gauge(
            "clockd_store_writes_waiting",
            "Writes queued for the store, in order.",
            registry=self.registry,
        )
        self.fires_waiting = Gauge(
            "clockd_fires_waiting",
            "Due fires waiting to be claimed in the store (many while it cannot be written).",
            registry=self.registry,
        )
        self.fires_missed = Counter(
            "clockd_fires_missed",
            "Fires given up because the store could not be written for more than "
            "catchup_limit waiting fires of their clock.",
            ["job", "clock"],
            registry=self.registry,
        )
        self.runs_pruned = Counter(
            "clockd_runs_pruned",
            "Runs deleted from history by keep_runs_for and keep_runs, with their logs.",
            registry=self.registry,
        )
        self.daemons_live = Gauge(
            "clockd_daemons_live",
            "Live daemons sharing the database (spec 8; 1 with SQLite).",
            registry=self.registry,
        )
        self.daemons_config_differs = Gauge(
            "clockd_daemons_config_differs",
            "Live daemons whose config digest (jobs, calendars, executors) differs from this "
            "daemon's.",
            registry=self.registry,
        )
        self.fencing_closed = Gauge(
            "clockd_fencing_closed",
            "1 while no heartbeat went through for daemon_timeout: no run starts.",
            registry=self.registry,
        )
        self.reload_success.set(1)
        self.store_writable.set(1)
        self._children: dict[tuple[int, str, str], Any] = {}
        self._seen_failures = 0
        self._seen_missed: dict[tuple[str, str], int] = {}
        self._seen_pruned = 0

    def observe_run_started(self, record: RunRecord) -> None:
        self._child(self.runs_started, record.job, str(record.trigger)).inc()
        lateness = getattr(record, "lateness", None)
        if lateness is not None and record.trigger in ("clock", "catchup"):
            self.fire_lateness.observe(max(float(lateness), 0.0))

    def observe_run_finished(self, record: RunRecord) -> None:
        self._child(self.runs_finished, record.job, str(record.state)).inc()

    def _child(self, counter: Counter, job: str, value: str) -> Any:
        """`counter.labels(job, value)`, looked up once: `labels()` validates and locks on
        every call, twice per run."""
        key = (id(counter), job, value)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(job, value)
        return child

    def observe_event(self, event: str, record: RunRecord) -> None:
        if event == "started":
            self.observe_run_started(record)
        elif event == "finished":
            self.observe_run_finished(record)

    def observe_reload(self, *, ok: bool, when: float | None = None) -> None:
        import time

        self.reload_success.set(1 if ok else 0)
        self.reload_time.set(time.time() if when is None else when)

    def refresh(self, service: Any) -> None:
        """Read the gauges that describe the present from the service."""
        config = service.config
        self.clocks_loaded.set(config.clock_count)
        self.jobs_loaded.set(len(config.jobs))
        executor = getattr(service, "executor", None)
        if executor is not None:
            self.active_runs.set(executor.running_count())
            self.pending_runs.set(executor.pending_count())
        writer = getattr(service, "writer", None)
        if writer is not None:
            health = writer.health
            self.store_writable.set(1 if health.ok else 0)
            self.store_writes_waiting.set(writer.backlog())
            if health.failed_attempts > self._seen_failures:
                self.store_write_failures.inc(health.failed_attempts - self._seen_failures)
                self._seen_failures = health.failed_attempts
        cluster = getattr(service, "cluster", None)
        if cluster is not None:
            self.daemons_live.set(cluster.live_count())
            self.daemons_config_differs.set(cluster.differing_digests())
            self.fencing_closed.set(0 if cluster.may_start() else 1)
        pruner = getattr(service, "pruner", None)
        if pruner is not None and pruner.pruned > self._seen_pruned:
            self.runs_pruned.inc(pruner.pruned - self._seen_pruned)
            self._seen_pruned = pruner.pruned
        firing = getattr(service, "firing", None)
        if firing is not None:
            self.fires_waiting.set(firing.backlog())
            for key, count in firing.missed_counts.items():
                seen = self._seen_missed.get(key, 0)
                if count > seen:
                    self.fires_missed.labels(*key).inc(count - seen)
                    self._seen_missed[key] = count

    def render(self, service: Any = None) -> bytes:
        if service is not None:
            self.refresh(service)
        return generate_latest(self.registry)


# The daemon's metrics. A process runs one daemon, so module-level functions are the API
# the executor and the daemon call; tests that want isolation create their own `Metrics`.
METRICS = Metrics()


def observe_run_started(record: RunRecord) -> None:
    """A run started executing (its lateness, if it is a fire, goes into the histogram)."""
    METRICS.observe_run_started(record)


def observe_run_finished(record: RunRecord) -> None:
    """A run reached a final state."""
    METRICS.observe_run_finished(record)


def observe_event(event: str, record: RunRecord) -> None:
    """Fits `Executor(on_event=...)`: counts "started" and "finished"; "log" is not counted."""
    METRICS.observe_event(event, record)


def observe_fire_lateness(seconds: float) -> None:
    """For callers that measure lateness themselves instead of through `observe_run_started`."""
    METRICS.fire_lateness.observe(max(seconds, 0.0))


def observe_reload(*, ok: bool) -> None:
    """A config load or SIGHUP reload succeeded (ok=True) or was refused."""
    METRICS.observe_reload(ok=ok)


def render(service: Any = None) -> bytes:
    """The exposition text of the daemon's metrics."""
    return METRICS.render(service)
