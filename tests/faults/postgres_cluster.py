"""A throwaway PostgreSQL cluster that a test owns: its own data directory, port and socket.

Fault tests stop and crash PostgreSQL, so they must never do it to the shared server on :5432.
`ThrowawayPostgres.create` runs `initdb` (trust auth) into a fresh directory and `pg_ctl start`s
it on a free port, listening on 127.0.0.1 and a socket in that directory; `destroy` stops it
and deletes the directory. PostgreSQL refuses to run as root, so as root every PostgreSQL
command runs as the `postgres` user (through `runuser`, else `su`), which owns the directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from tests.servers import free_port

PG_USER = "postgres"
COMMAND_TIMEOUT_SECONDS = 60.0

StopMode = Literal["fast", "immediate"]
Command = Callable[[list[str]], list[str]]


def find_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` with initdb and pg_ctl, else the
    directory of `pg_ctl` on PATH; None when this machine has no PostgreSQL server."""

    def usable(directory: Path) -> bool:
        return all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))

    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in versions:
        if usable(directory):
            return directory
    on_path = shutil.which("pg_ctl")
    if on_path and usable(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    return None


def _as_postgres_user() -> Command:
    """How to run a PostgreSQL command here: as is, or (as root) as the postgres user."""
    if os.geteuid() != 0:
        return list
    candidates: list[Command] = [
        lambda argv: ["runuser", "-u", PG_USER, "--", *argv],
        lambda argv: ["su", PG_USER, "-s", "/bin/sh", "-c", shlex.join(argv)],
    ]
    tried = []
    for wrap in candidates:
        probe = wrap(["true"])
        if shutil.which(probe[0]) is None:
            tried.append(f"{probe[0]}: not installed")
            continue
        done = subprocess.run(probe, capture_output=True, text=True, check=False, timeout=10)
        if done.returncode == 0:
            return wrap
        tried.append(f"{probe[0]}: {done.stderr.strip() or done.returncode}")
    raise RuntimeError(
        f"running as root, and cannot run commands as {PG_USER!r} for initdb ({'; '.join(tried)})"
    )


@dataclass
class ThrowawayPostgres:
    bin_dir: Path
    root: Path  # owned by the postgres user: data/, sock/ and postgres.log
    port: int
    wrap: Command

    @classmethod
    def create(cls, bin_dir: Path) -> ThrowawayPostgres:
        wrap = _as_postgres_user()
        # Not under pytest's tmp_path: its parent is root-only (0700) on a root run, and the
        # postgres user could not reach it. The socket path must also stay under ~100 bytes.
        root = Path(tempfile.mkdtemp(prefix="ct-faults-pg-"))
        try:
            (root / "sock").mkdir()
            if os.geteuid() == 0:
                for path in (root, root / "sock"):
                    shutil.chown(path, PG_USER, PG_USER)
            cluster = cls(bin_dir, root, free_port(), wrap)
            cluster._run(
                "initdb", "-D", str(cluster.data_dir), "-A", "trust", "-U", PG_USER,
                "-E", "UTF8", "--no-locale", "--no-sync",
            )  # fmt: skip
            cluster.start()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cluster

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL CT is given (`CT_DATABASE_URL`)."""
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> str:
        argv = self.wrap([str(self.bin_dir / program), *args])
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT_SECONDS
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}"
                f"{done.stderr}\n--- {self.log_path} ---\n{self.log_tail()}"
            )
        return done.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        """Start and wait until it accepts connections (after crash recovery, if any)."""
        options = f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: StopMode) -> None:
        """`fast`: roll back open transactions, disconnect clients, shut down cleanly.
        `immediate`: quit at once, as in a crash; the next start runs crash recovery."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        argv = self.wrap([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"])
        done = subprocess.run(argv, capture_output=True, check=False, timeout=30)
        return done.returncode == 0

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        """Stop the cluster (whatever state the test left it in) and delete its directory."""
        try:
            if self.running():
                self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            self._kill_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        """Last resort when pg_ctl failed: SIGQUIT (immediate shutdown) to this cluster's own
        postmaster, whose pid is the first line of its postmaster.pid."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGQUIT)
        except ProcessLookupError:
            pass
