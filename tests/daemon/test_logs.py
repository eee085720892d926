"""The daemon's log lines: one event per line, text or JSON."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import pytest

from scheduler.daemon.logs import setup_logging


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _record(created: float, message: str = "run started job=%s run_id=%s") -> logging.LogRecord:
    record = logging.LogRecord("clockd.executor", logging.INFO, "", 0, message, ("j", 7), None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def test_a_text_line_is_what_the_standard_formatter_writes(restore_logging: object) -> None:
    stream = io.StringIO()
    setup_logging("text", stream=stream)
    ours = logging.getLogger().handlers[0].formatter
    assert ours is not None
    standard = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the stamp is worked out once a second: records in the same and in the next second
    for created in (1_790_000_000.123, 1_790_000_000.999, 1_790_000_001.004, 1_790_086_400.5):
        record = _record(created)
        assert ours.format(record) == standard.format(record)
        assert ours.format(record).endswith("INFO clockd.executor: run started job=j run_id=7")


def test_a_traceback_is_folded_onto_its_event(restore_logging: object) -> None:
    stream = io.StringIO()
    setup_logging("text", stream=stream)
    log = logging.getLogger("clockd.test")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("fire batch failed job=%s", "j")
    log.info("next")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("ERROR clockd.test: fire batch failed job=j")
    assert lines[-1].endswith("INFO clockd.test: next")
    folded = lines[1:-1]
    assert folded, "the traceback is written"
    assert all(line.startswith("    ") for line in folded)
    assert any("ValueError: bad" in line for line in folded)


def test_json_lines_carry_time_level_logger_message_and_exception(
    restore_logging: object,
) -> None:
    stream = io.StringIO()
    setup_logging("json", stream=stream)
    log = logging.getLogger("clockd.test")
    log.info("run finished job=%s state=%s", "j", "succeeded")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("boom")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "info"
    assert first["logger"] == "clockd.test"
    assert first["message"] == "run finished job=j state=succeeded"
    assert abs(time.time() - _parse(first["time"])) < 60
    assert second["level"] == "error"
    assert "ZeroDivisionError" in second["exception"]


def _parse(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def journal_daemon(tmp_path: Path, log_format: str) -> list[str]:
    """A real `clockd serve` whose stderr is "the journal's stream": a file whose device and
    inode `$JOURNAL_STREAM` names, as systemd sets it. Runs until a run has ended."""
    import os
    import signal
    import subprocess

    from tests.helpers import clockd_argv, wait_until

    config = tmp_path / "clockd.toml"
    config.write_text(
        f'[daemon]\ndatabase = "{tmp_path / "clockd.db"}"\nlisten = ""\nlog_format = "{log_format}"\n'
        '[jobs.tick]\ncommand = ["sh", "-c", "exit 3"]\n'
        '[[jobs.tick.clocks]]\nname = "every"\ncron = "* * * * * *"\n'
    )
    out = tmp_path / "journal.txt"
    with out.open("wb") as sink:
        status = os.fstat(sink.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        daemon = subprocess.Popen(
            [*clockd_argv(), "serve", "-c", str(config)], stderr=sink, stdout=sink, env=env
        )
        try:
            wait_until(lambda: "run finished" in out.read_text(), 15, "a run to end")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(15)
    return out.read_text().splitlines()


def test_under_journald_text_lines_carry_a_priority_and_no_time(tmp_path: Path) -> None:
    lines = journal_daemon(tmp_path, "text")
    started = next(line for line in lines if "started jobs=" in line)
    assert started.startswith("<6>clockd.daemon: started jobs=1")
    finished = next(line for line in lines if "run finished" in line)
    assert finished.startswith("<6>clockd.executor: run finished job=tick clock=every")
    assert all(line.startswith("<") for line in lines), lines


def test_under_journald_json_lines_carry_a_priority_and_the_runs_fields(tmp_path: Path) -> None:
    import json

    lines = journal_daemon(tmp_path, "json")
    assert all(line.startswith("<") for line in lines), lines
    entries = [json.loads(line[line.index(">") + 1 :]) for line in lines]
    finished = next(e for e in entries if e["message"].startswith("run finished"))
    assert (finished["job"], finished["clock"]) == ("tick", "every")
    assert isinstance(finished["run_id"], int)


def test_outside_journald_the_priority_is_not_written() -> None:
    import logging

    from scheduler.daemon.logs import TextFormatter

    record = logging.LogRecord("clockd.test", logging.ERROR, __file__, 1, "boom job=a", (), None)
    plain = TextFormatter().format(record)
    assert plain.split(" ", 2)[2] == "ERROR clockd.test: boom job=a"
    assert TextFormatter(journal=True).format(record) == "<3>clockd.test: boom job=a"
