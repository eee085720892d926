"""A run's output on a Dask worker: split into lines, masked, capped, and sent in batches.

Log lines travel from the worker to the daemon through the Dask scheduler, which keeps the
last `distributed.admin.low-level-log-length` messages of a topic (1,000 by default). So a
run's lines go in batches of at most `BATCH_BYTES`, at most one batch per `BATCH_INTERVAL`
seconds: what the scheduler holds for one daemon stays bounded (1,000 × 32 KiB), and a run
that prints faster than that is slowed down by its own pipe, as a local run is when the
daemon falls behind. A run's log is capped at `max_log_bytes` on the worker, with the
daemon's arithmetic (`scheduler/running/logcap.py`: the head sent as it comes, the tail
kept and sent at the end after a marker for what was dropped), so the daemon's own cap
never cuts what the worker sent and a long run's dropped middle never travels.

    batcher = LineBatcher(send=lambda lines: ..., max_bytes=10_000_000, masker=masker)
    splitter = LineSplitter("stdout", batcher.add)
    splitter.feed(b"one\\ntwo\\npartial")   # two lines now, "partial" at close()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from scheduler.running.logcap import LogCap, marker_text

if TYPE_CHECKING:
    from scheduler.running.masking import Masker

MAX_LINE_BYTES = 64 * 1024  # as for a local run: a longer line is cut into pieces
BATCH_BYTES = 32 * 1024
BATCH_INTERVAL = 0.05  # seconds between two batches of one run, at least
FLUSH_DELAY = 0.1  # a line waits at most this long before its batch is sent

Line = tuple[float, str, str]  # (epoch seconds, stream, text)


class LineBatcher:
    """Collects a run's lines and hands batches to `send`; `due()` says when to call `tick`."""

    def __init__(
        self,
        send: Callable[[list[Line]], None],
        *,
        max_bytes: int,
        masker: Masker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.send = send
        self.max_bytes = max_bytes
        self.mask = masker.mask if masker else None
        self.clock = clock
        self.lines: list[Line] = []
        self.size = 0  # bytes in `lines`
        self.cap: LogCap[Line] = LogCap(max_bytes)
        self.batches = 0
        self._first_at: float | None = None  # when the oldest waiting line came
        self._sent_at = -BATCH_INTERVAL

    def add(self, stream: str, text: str) -> None:
        """One line of the run (stream "stdout", "stderr" or "clockd", never counted)."""
        if self.mask is not None:
            text = self.mask(text)
        line = (time.time(), stream, text)
        if stream == "clockd":
            passes = self.cap.offer_uncounted(line)
        else:
            passes = self.cap.offer(line, len(text.encode("utf-8", "replace")) + 1)
        if passes:
            self._keep(line)

    def _keep(self, line: Line) -> None:
        self.lines.append(line)
        self.size += len(line[2]) + 16
        if self._first_at is None:
            self._first_at = self.clock()

    @property
    def truncated(self) -> bool:
        return self.cap.truncated

    @property
    def full(self) -> bool:
        """Whether the next batch is complete: the reader should wait for `tick`."""
        return self.size >= BATCH_BYTES

    def due(self) -> float | None:
        """Seconds until the next batch may or must go; None when nothing waits."""
        if self._first_at is None:
            return None
        now = self.clock()
        earliest = self._sent_at + BATCH_INTERVAL
        latest = earliest if self.full else max(self._first_at + FLUSH_DELAY, earliest)
        return max(latest - now, 0.0)

    def tick(self) -> None:
        """Send a batch when one is due (see `due`)."""
        wait = self.due()
        if wait is not None and wait <= 0:
            self._send()

    def drain(self) -> list[Line]:
        """The run ended: send what waits in whole batches but the last, which is returned
        (to go with the outcome)."""
        middle, tail = self.cap.finish()
        if self.cap.truncated:
            moment = tail[0][0] if tail else time.time()
            middle.append((moment, "clockd", marker_text(self.cap.dropped_bytes)))
        for line in (*middle, *tail):
            self._keep(line)
        while self.size > BATCH_BYTES:
            self._send()
        lines, self.lines, self.size, self._first_at = self.lines, [], 0, None
        return lines

    def _send(self) -> None:
        cut = _cut(self.lines, BATCH_BYTES)
        batch = self.lines[:cut]
        del self.lines[:cut]
        self.size -= sum(len(text) + 16 for _, _, text in batch)
        now = self.clock()
        self._first_at = now if self.lines else None
        self._sent_at = now
        self.batches += 1
        self.send(batch)


def _cut(lines: list[Line], room: int) -> int:
    """How many of `lines` fit in `room` bytes (at least one)."""
    size = 0
    for index, (_, _, text) in enumerate(lines):
        size += len(text) + 16
        if size > room:
            return max(index, 1)
    return len(lines)


class LineSplitter:
    """Bytes of one stream → lines (UTF-8 with replacement, "\\r\\n" ends a line too)."""

    def __init__(self, stream: str, emit: Callable[[str, str], None]) -> None:
        self.stream = stream
        self.emit = emit
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            newline = buffer.find(b"\n")
            if newline == -1:
                if len(buffer) < MAX_LINE_BYTES:
                    return
                cut = _split_point(buffer, MAX_LINE_BYTES)
                self._emit(bytes(buffer[:cut]))
                del buffer[:cut]
                continue
            self._emit(bytes(buffer[:newline]))
            del buffer[: newline + 1]

    def close(self) -> None:
        if self.buffer:
            self._emit(bytes(self.buffer))
            self.buffer.clear()

    def _emit(self, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        self.emit(self.stream, raw.decode("utf-8", "replace"))


def _split_point(buffer: bytearray, limit: int) -> int:
    """Where to cut an over-long line without splitting a UTF-8 sequence."""
    cut = limit
    for _ in range(3):
        if 0 < cut < len(buffer) and 0x80 <= buffer[cut] <= 0xBF:
            cut -= 1
    return cut if cut > 0 else limit
