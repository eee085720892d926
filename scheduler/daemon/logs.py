"""Log setup: one event, one line; `text` for terminals, `json` for journald/Loki.

Under journald (stderr is the stream `$JOURNAL_STREAM` names), each line starts with its
syslog priority (`<3>` for errors: `journalctl -p err` works) and text lines carry no time of
their own (the journal has it). JSON lines carry `job`, `clock` and `run_id` as fields when
the message names them (`run started job=report clock=small run_id=7`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

# syslog priorities (sd-daemon(3)) of Python's levels
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}
_FIELDS = re.compile(r"\b(job|clock|run_id)=(\S+)")


def priority(record: logging.LogRecord) -> int:
    if record.levelno >= logging.CRITICAL:
        return 2
    return _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 4)


def under_journald(stream: TextIO) -> bool:
    """Whether `stream` is the journal's (systemd sets `JOURNAL_STREAM=DEVICE:INODE`)."""
    named = os.environ.get("JOURNAL_STREAM", "")
    if not named:
        return False
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return named == f"{status.st_dev}:{status.st_ino}"


class JsonFormatter(logging.Formatter):
    def __init__(self, *, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for name, value in _FIELDS.findall(message):
            if value not in ("-", "None"):
                entry.setdefault(
                    name, int(value) if name == "run_id" and value.isdigit() else value
                )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return f"<{priority(record)}>{line}" if self.journal else line


class TextFormatter(logging.Formatter):
    """`2026-03-01 09:00:00,123 INFO clockd.executor: run started job=...`, one line an event.

    The date and time are formatted once a second, not once a line: a burst of 1,000 runs
    logs 2,000 lines."""

    def __init__(self, *, journal: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.journal = journal
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = (
                second,
                time.strftime("%Y-%m-%d %H:%M:%S", self.converter(record.created)),
            )
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        # The format above, written out: the generic path (a dict per record for %-style
        # formatting) costs twice as much, and a burst of 1,000 runs logs 2,000 lines.
        if self.journal:  # the journal stamps each line; its priority says the level
            line = f"<{priority(record)}>{record.name}: {record.getMessage()}"
        else:
            line = (
                f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
            )
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        # one event, one line: a traceback is folded onto it (each journal line its priority)
        if "\n" not in line:
            return line
        return line.replace("\n", f"\n<{priority(record)}>    " if self.journal else "\n    ")


def setup_logging(
    log_format: str = "text", *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    # Nothing clockd logs shows the caller's file and line, thread or process: skip finding
    # them for every record (the logging HOWTO's "Optimization"; a third of a record's cost).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    journal = under_journald(stream)
    handler.setFormatter(
        JsonFormatter(journal=journal) if log_format == "json" else TextFormatter(journal=journal)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every submission at INFO; clockd logs the fire itself.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    adopt_uvicorn_loggers()


# uvicorn's loggers: its own errors ("uvicorn.error"), access lines and ASGI messages.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def adopt_uvicorn_loggers() -> None:
    """uvicorn's loggers write through clockd's handler, in the configured format.

    uvicorn's default `log_config` gives them handlers of their own on stderr and stops
    propagation, so `log_format = "json"` did not reach them; the daemon passes
    `log_config=None` and this undoes what an earlier configuration left."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
