"""On a Dask worker: one attempt of a clockd run, the task `run_attempt` (spec 9).

The daemon submits `run_attempt(payload)`, the attempt and its plan pickled; on a worker
thread it

1. refuses a second start of the attempt (`{"state": "refused"}`) before any process
   exists: Dask starts a dead worker's tasks again elsewhere by itself, and the scheduler
   marks those (`reruns.py`): a run never executes twice;
2. resolves the run's secrets here (`env:` from this worker's environment, `file:` on its
   disk) into the child's environment only, and masks them in what the run prints;
3. starts the command (or `python -m scheduler.pyrunner` for a Python target) in a session
   of its own, with this worker's environment plus the job's `env` and the `CLOCKD_*`
   variables, in the job's absolute `workdir` or the worker's own, and registers its process
   group with the worker's keeper (`keeper.py`), which kills it if the worker dies;
4. tells the daemon through `Worker.log_event` on the daemon's topic, in messages
   `{"k": key, "s": start, "l": lines, "o": outcome}` (each part optional, handled in that
   order): that it started (with the first batch of lines, at most `FLUSH_DELAY` after the
   spawn), its lines in batches (`lines.py`), and its outcome with its last lines; a run
   shorter than a batch's delay costs one message;
5. kills the process group (SIGTERM, then SIGKILL after the grace) when the daemon asks
   (`stop_run`, through `Client.run`: `Future.cancel` cannot stop a running task), at the
   run's timeout (counted from its process's start), or when the daemon no longer watches
   it: the daemon's Dask client is its lease — when that client goes away (the daemon died
   or lost the scheduler), the scheduler releases the task and this run notices within
   `LEASE_CHECK` seconds;
6. returns the outcome: state, exit code, error, the target's result (masked).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.running.dask.keeper import MARKER, Keeper
from scheduler.running.dask.lines import FLUSH_DELAY, LineBatcher, LineSplitter
from scheduler.running.dask.reruns import is_rerun
from scheduler.running.dask.spawn import (
    close_inherited_descriptors,
    killpg,
    open_pidfd,
    read_pipe,
    reap,
    spawn,
    worker_environ,
)
from scheduler.running.environment import add_run_variables, base_env
from scheduler.running.masking import Masker
from scheduler.running.results import read_result, target_process
from scheduler.running.secrets import SecretError, resolve_secrets

if TYPE_CHECKING:
    from distributed import Worker

    from scheduler.running.backend import Attempt

LEASE_CHECK = 0.25  # seconds between two looks at whether the daemon still wants the run
DRAIN_GRACE = 2.0  # after the main process exited, how long descendants may hold its output
RESULT_IN_MESSAGE = 16 * 1024  # a target's result up to this size (as JSON) travels in "ended"
_WATCHED = frozenset({"executing", "long-running"})

_active: dict[str, RemoteRun] = {}  # key → run, in this worker process
_keeper = Keeper()


def run_attempt(payload: bytes) -> dict[str, Any]:
    """The Dask task: one attempt of a run on this worker (module docstring)."""
    from distributed import get_worker

    attempt, plan = pickle.loads(payload)
    worker = get_worker()
    if is_rerun(worker, plan["key"]):
        return {"state": "refused", "worker": worker_name(worker)}
    return RemoteRun(worker, attempt, plan).execute()


def stop_run(key: str, reason: str) -> bool:
    """Ask the run of Dask task `key` on this worker to stop (through `Client.run`, on the
    worker's event loop); False when it does not run here."""
    run = _active.get(key)
    if run is None:
        return False
    run.request_stop(reason)
    return True


def stop_runs_of(daemon: str, keep_owner: str) -> list[str]:
    """Stop the runs that daemon `daemon` started before its instance `keep_owner` (a
    restarted daemon does not re-attach them); their task keys."""
    stopped = []
    for key, run in list(_active.items()):
        if run.plan.get("daemon") == daemon and run.plan.get("owner") != keep_owner:
            run.request_stop("abandoned")
            stopped.append(key)
    return stopped


def worker_name(worker: Worker) -> str:
    """What a run records as its `worker`: the worker's name (its address when unnamed)."""
    name = worker.name
    return str(name) if name is not None else str(worker.address)


class RemoteRun:
    """One attempt's process on this worker, from spawn to outcome."""

    def __init__(self, worker: Worker, attempt: Attempt, plan: Mapping[str, Any]) -> None:
        self.worker = worker
        self.attempt = attempt
        self.plan = plan
        self.key: str = plan["key"]
        self.topic: str = plan["topic"]
        self.name = worker_name(worker)
        self.stop_reason: str | None = None
        self.start: dict[str, Any] | None = None  # what "started" says, until it is sent
        self._stop_read, self._stop_write = os.pipe()

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        with contextlib.suppress(OSError):
            os.write(self._stop_write, b"x")

    def _send(self, message: dict[str, Any]) -> None:
        """One message to the daemon; the start goes with the first one."""
        message["k"] = self.key
        if self.start is not None:
            message["s"], self.start = self.start, None
        self.worker.log_event(self.topic, message)

    def _watched(self) -> bool:
        """Whether the daemon still wants this task (its client holds it: the lease)."""
        task = self.worker.state.tasks.get(self.key)
        return task is not None and task.state in _WATCHED

    def execute(self) -> dict[str, Any]:
        _active[self.key] = self
        try:
            outcome, last_lines = self._execute()
            # The outcome goes to the daemon as a message, with the run's last lines: it
            # need not fetch the task's result (one more round trip per run). A large
            # result waits in the task's result instead of the scheduler's event log.
            message = outcome
            if len(json.dumps(outcome.get("result"), default=str)) > RESULT_IN_MESSAGE:
                message = {**outcome, "result": None, "more": True}
            self._send({"l": last_lines, "o": message} if last_lines else {"o": message})
            return outcome
        finally:
            _active.pop(self.key, None)
            os.close(self._stop_read)
            os.close(self._stop_write)

    def _execute(self) -> tuple[dict[str, Any], list[Any]]:
        """The outcome, and the run's last lines (not sent yet)."""
        attempt, plan = self.attempt, self.plan
        workdir = Path(plan["workdir"]) if plan.get("workdir") else None
        try:
            values = resolve_secrets(
                attempt.parameters,
                attempt.secrets,
                worker_environ(),
                base_dir=workdir or Path.cwd(),
            )
        except SecretError as error:
            text = str(error).replace("the daemon's environment", "the worker's environment")
            return self._outcome("failed", error=text, retryable=False), []
        masker = None
        if attempt.secrets:
            masker = Masker(v for n in attempt.secrets if isinstance(v := values.get(n), str))
        env = base_env(worker_environ(), attempt.env, frozenset(plan.get("hidden", ())))
        add_run_variables(env, attempt, values)
        env[MARKER] = _keeper.token
        scratch: Path | None = None
        if attempt.target is not None:
            argv, scratch = target_process(attempt, values, env, sys.executable)
        else:
            assert attempt.command is not None, f"run {attempt.run_id} has no command"
            argv = [str(item) for item in attempt.command]
        try:
            outcome, last_lines = self._process(argv, env, workdir, masker)
            if outcome["state"] == "succeeded" and scratch is not None:
                result, note = read_result(scratch / "result.json")
                if note is not None:
                    last_lines.append((time.time(), "clockd", note))
                if result is not None:
                    outcome["result"] = masker.mask_json(result) if masker else result
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        if masker and outcome.get("error"):
            outcome["error"] = masker.mask(outcome["error"])
        return outcome, last_lines

    def _outcome(self, state: str, **fields: Any) -> dict[str, Any]:
        return {"state": state, "worker": self.name, **fields}

    def _process(
        self, argv: list[str], env: dict[str, str], workdir: Path | None, masker: Masker | None
    ) -> tuple[dict[str, Any], list[Any]]:
        close_inherited_descriptors()
        _keeper.start()
        try:
            pid, out, err, popen = spawn(argv, env, workdir)
        except OSError as error:
            if workdir is not None and str(error.filename) == str(workdir) != argv[0]:
                return self._outcome("failed", error=f"workdir '{workdir}' is not a directory"), []
            error_text = f"cannot start '{argv[0]}': {error.strerror or error}"
            return self._outcome("failed", error=error_text), []
        except ValueError:
            error_text = (
                f"cannot start '{argv[0]}': an argument or environment value contains a NUL "
                "character"
            )
            return self._outcome("failed", error=error_text), []
        _keeper.register(pid)
        # Said with the first batch of lines, or by the watch within FLUSH_DELAY, or with
        # the outcome: `t` (this worker's clock) tells the daemon when it started.
        self.start = {"w": self.name, "a": self.worker.address, "pid": pid, "t": time.time()}
        batcher = LineBatcher(
            lambda lines: self._send({"l": lines}),
            max_bytes=int(self.plan["max_log_bytes"]),
            masker=masker,
        )
        try:
            code, reason = self._watch(pid, popen, out, err, batcher)
        finally:
            _keeper.unregister(pid)
        last_lines = batcher.drain()
        if reason == "stop":
            return self._outcome("stopped", exit_code=code), last_lines
        if reason == "abandoned":
            return self._outcome("abandoned", exit_code=code), last_lines
        if reason == "timeout":
            why = f"timed out after {self.attempt.timeout}"
            return self._outcome("timed_out", exit_code=code, error=why), last_lines
        if code != 0:
            from scheduler.running.local.process import describe_exit

            return self._outcome("failed", exit_code=code, error=describe_exit(code)), last_lines
        return self._outcome("succeeded", exit_code=0), last_lines

    def _watch(
        self,
        pid: int,
        popen: subprocess.Popen[bytes] | None,
        out: int,
        err: int,
        batcher: LineBatcher,
    ) -> tuple[int, str | None]:
        """Read the output until the process exited and its pipes closed; (exit code, why
        it was killed: "stop", "timeout", "abandoned" or None)."""
        selector = selectors.DefaultSelector()
        pipes = {out: LineSplitter("stdout", batcher.add), err: LineSplitter("stderr", batcher.add)}
        for fd in pipes:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ, "pipe")
        selector.register(self._stop_read, selectors.EVENT_READ, "stop")
        pidfd = open_pidfd(pid)
        if pidfd is not None:
            selector.register(pidfd, selectors.EVENT_READ, "exit")
        grace = float(self.plan["kill_grace"])
        timeout = self.attempt.timeout.total_seconds() if self.attempt.timeout else None
        started = time.monotonic()
        code: int | None = None
        reason: str | None = None
        kill_at: float | None = None
        drain_until: float | None = None
        next_lease = started + LEASE_CHECK
        announce_at = started + FLUSH_DELAY  # "started", unless lines carried it before
        paused = False

        def terminate(why: str) -> None:
            nonlocal reason, kill_at
            if reason is None:
                reason = why
                killpg(pid, signal.SIGTERM)
                kill_at = time.monotonic() + grace

        try:
            while True:
                now = time.monotonic()
                waits = [next_lease - now]
                if self.start is not None:
                    waits.append(announce_at - now)
                if timeout is not None and reason is None:
                    waits.append(started + timeout - now)
                for moment in (kill_at, drain_until):
                    if moment is not None:
                        waits.append(moment - now)
                due = batcher.due()
                if due is not None:
                    waits.append(due)
                if pidfd is None and code is None:
                    waits.append(0.05)
                for key, _ in selector.select(max(min(waits), 0.0)):
                    fd = key.fd
                    if key.data == "pipe":
                        chunk = read_pipe(fd)
                        if chunk is None:
                            continue
                        if chunk:
                            pipes[fd].feed(chunk)
                        else:
                            pipes.pop(fd).close()
                            selector.unregister(fd)
                            os.close(fd)
                    elif key.data == "stop":
                        os.read(fd, 64)
                        terminate("abandoned" if self.stop_reason == "abandoned" else "stop")
                    elif key.data == "exit":
                        selector.unregister(fd)
                        os.close(fd)
                        pidfd = None
                if code is None and pidfd is None:
                    code = reap(pid, popen, block=False)
                # A full batch waits for its turn; meanwhile the run's pipe holds its output.
                if batcher.full != paused:
                    paused = batcher.full
                    for fd in pipes:
                        if paused:
                            selector.unregister(fd)
                        else:
                            selector.register(fd, selectors.EVENT_READ, "pipe")
                batcher.tick()
                now = time.monotonic()
                if self.start is not None and now >= announce_at and code is None:
                    self._send({})
                if reason is None and timeout is not None and now >= started + timeout:
                    batcher.add(
                        "clockd",
                        f"[clockd: timed out after {self.attempt.timeout}; killing the run]",
                    )
                    terminate("timeout")
                if kill_at is not None and now >= kill_at:
                    killpg(pid, signal.SIGKILL)
                    kill_at = None
                if now >= next_lease:
                    next_lease = now + LEASE_CHECK
                    if reason is None and not self._watched():
                        terminate("abandoned")
                if code is not None:
                    if not pipes:
                        break
                    if drain_until is None:
                        drain_until = now + DRAIN_GRACE
                    elif now >= drain_until:
                        batcher.add(
                            "clockd",
                            "[clockd: processes of the run kept its output open after it "
                            "exited; killed its process group]",
                        )
                        killpg(pid, signal.SIGKILL)
                        for fd in list(pipes):
                            pipes.pop(fd).close()
                            with contextlib.suppress(KeyError):
                                selector.unregister(fd)
                            os.close(fd)
                        break
        finally:
            selector.close()
            for fd in pipes:
                os.close(fd)
            if pidfd is not None:
                os.close(pidfd)
        if reason is not None:  # what the run started dies with it
            killpg(pid, signal.SIGKILL)
        return code, reason
