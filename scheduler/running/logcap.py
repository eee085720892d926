"""The cap of a run's log (`max_log_bytes`): its head and its tail are kept, one marker
line stands for what was dropped between them.

The arithmetic only, shared by the daemon (`LogLimiter`, local and Dask runs) and a Dask
worker (`dask/lines.LineBatcher`), so that the daemon's cap never cuts what a worker sent.
A line counts its UTF-8 bytes plus one (its newline); clockd's own lines (attempts, kills,
the marker) count nothing and are never dropped.

- The first half of the cap is the head: lines pass at once, as they come.
- From the first line that does not fit in the head, lines wait in the tail (the other
  half), the oldest making room for the newest; a clockd line pushed out of the tail is
  kept and comes out just before the marker, where its moment was.
- `finish()`, when the run has ended: those clockd lines, the marker (only if something
  was dropped), then the tail. So followers of a live log see the head live and the tail
  at the end.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")


def marker_text(dropped_bytes: int) -> str:
    return f"[clockd: … {dropped_bytes} bytes dropped …]"


class LogCap(Generic[Item]):
    """See the module docstring; `Item` is whatever the caller passes on (a line tuple)."""

    def __init__(self, max_bytes: int) -> None:
        self.head_room = max_bytes // 2
        self.tail_room = max_bytes - self.head_room
        self.logged_bytes = 0  # bytes passed in the head
        self.dropped_bytes = 0
        self.dropped_lines = 0
        self.in_tail = False
        self._tail: deque[tuple[Item, int]] = deque()
        self._tail_bytes = 0
        self._middle: list[Item] = []  # clockd lines pushed out of the tail

    @property
    def truncated(self) -> bool:
        return self.dropped_bytes > 0

    def offer(self, item: Item, size: int) -> bool:
        """A counted line of `size` bytes: True when it passes now (the head), else it is
        kept in the tail or dropped."""
        if not self.in_tail:
            if self.logged_bytes + size <= self.head_room:
                self.logged_bytes += size
                return True
            self.in_tail = True
        self._tail.append((item, size))
        self._tail_bytes += size
        while self._tail_bytes > self.tail_room:
            old, old_size = self._tail.popleft()
            self._tail_bytes -= old_size
            if old_size == 0:
                self._middle.append(old)
            else:
                self.dropped_bytes += old_size
                self.dropped_lines += 1
        return False

    def offer_uncounted(self, item: Item) -> bool:
        """A clockd line: True when it passes now; in tail mode it waits in order."""
        if not self.in_tail:
            return True
        self._tail.append((item, 0))
        return False

    def finish(self) -> tuple[list[Item], list[Item]]:
        """The run ended: (clockd lines from the dropped middle, the tail); the marker goes
        between them when `truncated`. Called once, when nothing more will come."""
        middle, tail = self._middle, [item for item, _ in self._tail]
        self._middle, self._tail, self._tail_bytes = [], deque(), 0
        return middle, tail
