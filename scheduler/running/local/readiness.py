"""Readable callbacks for the many short-lived descriptors of runs (pipes, pidfds).

    watch = readiness(loop)
    watch.add(fd, callback)   # callback() on the loop thread while `fd` is readable
    watch.remove(fd)          # before closing `fd`

Every run opens three descriptors and closes them when it ends. Registered one by one with
`loop.add_reader`, each costs a Handle, a selector key and a lookup that raises KeyError;
through one epoll of our own, registered once in the loop, it is one `epoll_ctl`, and one
loop wake-up serves every descriptor that became readable together. In a burst of 1,000
runs that is about a tenth of the daemon's time per run (benchmarks/daemon.py). Where
there is no epoll (not Linux), `loop.add_reader` does the work.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import Callable

_BATCH = 256  # events taken per wake-up; level-triggered, so the rest come on the next one


class Readiness:
    """One epoll for many descriptors, itself one reader of the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the registry below maps loops to watchers weakly, which a strong reference
        # back to the loop would defeat (an epoll left open per closed loop).
        self._loop = weakref.ref(loop)
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[], None]] = {}
        # Descriptors removed while a batch is being dispatched: a later event of that batch
        # may name the same number, reused for a new descriptor, and must not reach it.
        self._removed: set[int] | None = None
        loop.add_reader(self._epoll.fileno(), self._dispatch)

    def add(self, fd: int, callback: Callable[[], None]) -> None:
        self._epoll.register(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def remove(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is None:
            return
        if self._removed is not None:
            self._removed.add(fd)
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):  # already closed: the kernel dropped it
            pass

    def __len__(self) -> int:
        return len(self._callbacks)

    def _dispatch(self) -> None:
        removed: set[int] = set()
        self._removed = removed
        try:
            for fd, _ in self._epoll.poll(0, _BATCH):
                callback = self._callbacks.get(fd)
                if callback is None or fd in removed:
                    continue
                try:
                    callback()
                except Exception as error:  # as the loop does for a reader: log, go on
                    loop = self._loop()
                    if loop is not None:
                        loop.call_exception_handler(
                            {
                                "message": f"readiness callback failed for fd {fd}",
                                "exception": error,
                            }
                        )
        finally:
            self._removed = None

    def close(self) -> None:
        if self._epoll.closed:
            return
        loop = self._loop()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        self._callbacks.clear()


class LoopReaders:
    """The fallback without epoll: the loop's own readers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._fds: set[int] = set()

    def add(self, fd: int, callback: Callable[[], None]) -> None:
        loop = self._loop()
        assert loop is not None
        loop.add_reader(fd, callback)
        self._fds.add(fd)

    def remove(self, fd: int) -> None:
        loop = self._loop()
        if fd in self._fds and loop is not None:
            self._fds.discard(fd)
            loop.remove_reader(fd)

    def __len__(self) -> int:
        return len(self._fds)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Readiness | LoopReaders] = (
    weakref.WeakKeyDictionary()
)


def readiness(loop: asyncio.AbstractEventLoop | None = None) -> Readiness | LoopReaders:
    """The watcher of `loop` (the running loop by default), made on first use."""
    loop = loop or asyncio.get_running_loop()
    watch = _by_loop.get(loop)
    if watch is None:
        watch = Readiness(loop) if hasattr(select, "epoll") else LoopReaders(loop)
        _by_loop[loop] = watch
    return watch
