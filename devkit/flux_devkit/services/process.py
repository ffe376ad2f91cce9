"""Child processes for local services: own process group, log file, readiness probe.

Every service the tests and the demo start runs in its own session so that stopping it
also stops the helpers it forks (MLflow's uvicorn workers, SeaweedFS's sub-servers).
Its output goes to a log file that stays on disk, and a start that fails or times out
raises :class:`ServiceError` with the end of that log, so the cause is in the message.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from airflow_flux_provider.errors import FluxError

LOOPBACK = "127.0.0.1"


class ServiceError(FluxError):
    """A local service did not start, did not become ready, or rejected its setup."""


#: Ports handed out recently, one file each, for every process of this user on the machine.
_CLAIMS = Path(tempfile.gettempdir()) / f"flux-devkit-ports-{os.getuid()}"
#: How long a handed-out port stays reserved: ample for a service to start and bind it.
_CLAIM_SECONDS = 300


def free_ports(count: int = 1) -> list[int]:
    """Return ``count`` distinct ports that are free on the loopback interface right now.

    All sockets are held open together so the kernel cannot hand out the same port twice.
    A port stays free only until its service binds it, and parallel test workers start
    services at the same moment: a port handed out to any process in the last minutes is
    skipped (a claim file per port).
    """
    sockets = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
            port = sock.getsockname()[1]
            if _claim(port):
                ports.append(port)
        return ports
    finally:
        for sock in sockets:
            sock.close()


def _claim(port: int) -> bool:
    """Whether ``port`` was not handed out recently; it is now (until ``_CLAIM_SECONDS`` pass)."""
    _CLAIMS.mkdir(mode=0o700, exist_ok=True)
    claim = _CLAIMS / str(port)
    with contextlib.suppress(FileNotFoundError):
        if time.time() - claim.stat().st_mtime < _CLAIM_SECONDS:
            return False
        claim.unlink()
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:  # another process claimed it a moment ago
        return False
    return True


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status ``url`` answers with, or ``None`` when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None


class ServiceProcess:
    """One running service binary with its log file; :meth:`stop` kills its whole process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **(env or {})}
        with open(log_path, "ab") as log:
            try:
                self.popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as err:
                raise ServiceError(
                    f"could not start {argv[0]}: {err.strerror}; install it (scripts/setup.sh) "
                    "or fix its path",
                    obj=f"service/{name}",
                ) from None
        self._stopped = False
        atexit.register(self.stop)  # no orphans if the caller never gets to stop() itself

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def fail(self, problem: str) -> ServiceError:
        """Stop the process and build an error carrying the end of its log."""
        self.stop()
        return ServiceError(
            f"{problem}; log {self.log_path}:\n{self.log_tail()}",
            obj=f"service/{self.name}",
        )

    def wait_http(self, url: str, *, ready: Sequence[int] = (200,), timeout: float = 60.0) -> None:
        """Poll ``url`` until it answers with one of ``ready``; raise with the log on exit or timeout."""
        deadline = time.monotonic() + timeout
        last: int | None = None
        while time.monotonic() < deadline:
            if not self.running():
                raise self.fail(f"exited with code {self.popen.returncode} before {url} was ready")
            last = http_status(url)
            if last in ready:
                return
            time.sleep(0.1)
        raise self.fail(f"{url} not ready after {timeout:.0f} s (last status {last})")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left of it (once only)."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        deadline = time.monotonic() + timeout  # SIGKILL is asynchronous: wait until the group is gone
        while _live_group_members(self.popen.pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _live_group_members(pgid: int) -> list[int]:
    """PIDs in process group ``pgid`` that have not exited (zombies excluded), from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(stat.parent.name))
    return members
