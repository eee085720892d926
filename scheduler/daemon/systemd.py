"""systemd's notify protocol, written directly to $NOTIFY_SOCKET (about 15 lines of socket code).

Unlike sdnotify it reports errors, supports MONOTONIC_USEC and the watchdog interval, and
removes the variables from the environment so that runs never inherit them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

log = logging.getLogger("clockd.systemd")

_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """`Notifier.from_environ()` takes the notify variables out of the environment.

    >>> notifier = Notifier.from_environ()
    >>> notifier.ready("scheduling 3 clocks")   # READY=1 + STATUS=...
    """

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self._dropping = False

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET") or None
        watchdog: int | None = None
        raw = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if raw.isdigit() and int(raw) > 0 and (not pid or pid == str(os.getpid())):
            watchdog = int(raw)
        for name in _VARIABLES:
            environ.pop(name, None)
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def notify(self, *fields: str) -> bool:
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            # Never wait: a receiver that does not read (a full queue) must not stop the
            # daemon's loop; the message is dropped and said once.
            self._socket.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, target)
        except BlockingIOError:
            if not self._dropping:
                log.warning("systemd notify queue full socket=%s; messages dropped", self.address)
            self._dropping = True
            return False
        except OSError as error:
            log.warning("systemd notify failed socket=%s error=%s", self.address, error)
            return False
        self._dropping = False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading the config")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
