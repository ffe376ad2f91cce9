"""Debian's ``redis-server`` on a loopback port: the CeleryExecutor's broker and result backend.

No persistence (a test or bench run starts from an empty queue) and a password of its own, so
a Celery worker of another run on the same machine cannot take this run's tasks.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from flux_devkit.services.process import LOOPBACK, ServiceError, ServiceProcess, free_ports


class RedisServer:
    """A running server; :meth:`url` is a ``redis://`` URL of one of its databases."""

    def __init__(self, workdir: Path, *, timeout: float = 30.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(
                "the redis-server binary is missing; install Debian's redis-server (scripts/setup.sh does)",
                obj="service/redis",
            )
        workdir.mkdir(parents=True, exist_ok=True)
        (self.port,) = free_ports(1)
        self.password = os.urandom(12).hex()
        config = workdir / "redis.conf"
        config.write_text(
            f'bind {LOOPBACK}\nport {self.port}\nrequirepass {self.password}\nsave ""\nappendonly no\n'
            f"dir {workdir}\n"
        )
        config.chmod(0o600)
        self.process = ServiceProcess("redis", [binary, str(config)], workdir / "redis.log", cwd=workdir)
        self.log_path = self.process.log_path
        self._wait_ready(timeout)

    def url(self, database: int = 0) -> str:
        return f"redis://:{self.password}@{LOOPBACK}:{self.port}/{database}"

    def ping(self) -> bool:
        """Whether the server answers an authenticated PING."""
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=2) as conn:
                conn.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                answer = b""
                while answer.count(b"\r\n") < 2:
                    chunk = conn.recv(256)
                    if not chunk:
                        break
                    answer += chunk
            return answer == b"+OK\r\n+PONG\r\n"
        except OSError:
            return False

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running():
                raise self.process.fail(f"exited with code {self.process.popen.returncode}")
            if self.ping():
                return
            time.sleep(0.1)
        raise self.process.fail(f"no answer to PING after {timeout:.0f} s")

    def stop(self) -> None:
        self.process.stop()


def start_redis(workdir: Path) -> RedisServer:
    return RedisServer(workdir)
