"""One container run as a host process: its own process group, its log, its exit, and its end.

The process starts in a session of its own (so stopping it stops whatever it forked) and,
where util-linux's ``setpriv`` is available, with ``PR_SET_PDEATHSIG`` so it dies with
the sandbox even when the sandbox is killed without a chance to stop it. Both streams
go through :class:`~flux_devkit.sandbox.kubelet.logs.LogWriter`; when they end, the exit
code is collected and ``on_exit`` told.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from flux_devkit.sandbox.kubelet.environment import Launch, StartError
from flux_devkit.sandbox.kubelet.logs import LogWriter

SETPRIV = shutil.which("setpriv")


def rfc3339(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerProcess:
    """A started container; ``exit_code`` is None while it runs."""

    def __init__(self, launch: Launch, log: LogWriter, on_exit: Callable[[], None]) -> None:
        self.log = log
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.exit_code: int | None = None
        self.killed_by: str = ""  # why the kubelet stopped it (liveness, deletion), if it did
        argv = [SETPRIV, "--pdeathsig", "KILL", "--", *launch.argv] if SETPRIV else launch.argv
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=launch.env,
                cwd=launch.cwd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as err:
            log.close()
            raise StartError(f'exec: "{launch.argv[0]}": {err.strerror}') from None
        self._on_exit = on_exit
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self._pumps = [
            threading.Thread(target=log.pump, args=(self.popen.stdout, "stdout"), daemon=True),
            threading.Thread(target=log.pump, args=(self.popen.stderr, "stderr"), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()
        threading.Thread(target=self._reap, name=f"reap-{self.popen.pid}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.exit_code is None

    def _reap(self) -> None:
        code = self.popen.wait()
        self._signal(signal.SIGKILL)  # a container ends with its first process: whatever it forked goes too
        for pump in self._pumps:  # the last lines reach the log before anyone reads the exit
            pump.join(timeout=5)
        self.log.close()
        self.finished_at = time.time()
        self.exit_code = 128 - code if code < 0 else code  # killed by signal N: 128+N, as a shell says
        self._on_exit()

    def terminate(self, grace: float, reason: str) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds (in the background)."""
        if not self.running:
            return
        self.killed_by = self.killed_by or reason
        self._signal(signal.SIGTERM)
        threading.Thread(target=self._kill_after, args=(grace,), daemon=True).start()

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _kill_after(self, grace: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace)
            return
        self.kill()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)
