"""A child process kept running beside this one: restarted when it dies, stopped with us.

The child's stdin is a pipe from this process, and the child stops when it reads end-of-file:
that is how it is told to stop, and how it learns that its parent died (even by `kill -9`),
without the signals a terminal's Ctrl-C or a service manager also sends it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence

import structlog

log = structlog.get_logger(__name__)


class SupervisedChild:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: dict[str, str],
        *,
        backoff_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        stable_seconds: float = 60.0,
        stop_timeout_seconds: float = 15.0,
    ) -> None:
        self.name = name
        self._command = list(command)
        self._env = env
        self._backoff = backoff_seconds
        self._backoff_max = backoff_max_seconds
        self._stable = stable_seconds
        self._stop_timeout = stop_timeout_seconds
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name=f"supervise-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Close the child's stdin, wait for it to finish (SIGKILL after the timeout)."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None:
            _close_stdin(process)
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("child_stop_timeout", child=self.name, pid=process.pid)
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout=self._stop_timeout)

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self._process = subprocess.Popen(self._command, env=self._env, stdin=subprocess.PIPE)
            self.starts += 1
            return self._process

    def _supervise(self) -> None:
        delay = self._backoff
        while True:
            started = time.monotonic()
            process = self._spawn()
            if process is None:
                return
            log.info("child_started", child=self.name, pid=process.pid, starts=self.starts)
            code = process.wait()
            _close_stdin(process)
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= self._stable:
                delay = self._backoff
            log.error("child_exited", child=self.name, pid=process.pid, code=code, restart_in=delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self._backoff_max)


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None and not process.stdin.closed:
        try:
            process.stdin.close()
        except BrokenPipeError:
            pass  # the child has gone already
