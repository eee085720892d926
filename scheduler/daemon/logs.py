"""Log setup: one event, one line; `text` for terminals, `json` for journald/Loki."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import TextIO


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-03-01 09:00:00,123 INFO clockd.executor: run started job=...`, one line an event.

    The date and time are formatted once a second, not once a line: a burst of 1,000 runs
    logs 2,000 lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
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
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        # one event, one line: a traceback is folded onto it
        return line.replace("\n", "\n    ") if "\n" in line else line


def setup_logging(
    log_format: str = "text", *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    # Nothing clockd logs shows the caller's file and line, thread or process: skip finding
    # them for every record (the logging HOWTO's "Optimization"; a third of a record's cost).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
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
