"""A PostgreSQL server of its own (Debian's ``postgresql``) on a loopback port.

Set up the way the official ``postgres`` image sets up a first start: ``initdb`` with the
superuser ``POSTGRES_USER`` and its password, a database ``POSTGRES_DB``, password
(SCRAM) authentication over TCP, then the init scripts run as that user. The production
configuration test runs the compose file's own settings against it.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user the
Debian package creates, in a data folder only that user can read.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flux_devkit.services.process import LOOPBACK, ServiceError, ServiceProcess, free_ports

_SERVER_USER = "postgres"


def _binary(name: str) -> str:
    """A server binary: Debian keeps them per major version under /usr/lib/postgresql."""
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    found = str(versions[-1]) if versions else shutil.which(name)
    if not found:
        raise ServiceError(
            f"{name} not found; install Debian's postgresql (scripts/setup.sh does)", obj="service/postgres"
        )
    return found


@dataclass(frozen=True)
class Superuser:
    name: str
    password: str
    database: str


class PostgresServer:
    """A running server; :meth:`url` builds SQLAlchemy URLs, :meth:`client_env` libpq settings."""

    def __init__(self, workdir: Path, superuser: Superuser) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.superuser = superuser
        (self.port,) = free_ports(1)
        run_as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam(_SERVER_USER)
            run_as = ["runuser", "-u", _SERVER_USER, "--"]
            # pytest's temp folders are private to root: the server gets a folder it can reach.
            self.data = Path(tempfile.mkdtemp(prefix="flux-postgres-"))
            os.chown(self.data, account.pw_uid, account.pw_gid)
        else:
            self.data = workdir / "data"
            self.data.mkdir()
        password_file = self.data / "superuser-password"
        password_file.write_text(superuser.password + "\n")
        if run_as:
            os.chown(password_file, account.pw_uid, account.pw_gid)
        cluster = self.data / "cluster"
        init = subprocess.run(
            [
                *run_as,
                _binary("initdb"),
                f"--pgdata={cluster}",
                f"--username={superuser.name}",
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        password_file.unlink()
        if init.returncode != 0:
            raise ServiceError(f"initdb failed: {init.stderr.strip()[-2000:]}", obj="service/postgres")
        argv = [
            *run_as,
            _binary("postgres"),
            "-D",
            str(cluster),
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-k",
            str(self.data),
            "-c",
            "fsync=off",  # a throwaway server on a shared disk: durability buys nothing here
        ]
        self.process = ServiceProcess("postgres", argv, workdir / "postgres.log", cwd=self.data)
        self.log_path = self.process.log_path
        try:
            self._wait_ready()
            self.psql("-c", f'CREATE DATABASE "{superuser.database}"', database="postgres")
        except BaseException:
            self.stop()
            raise

    def client_env(self, database: str | None = None) -> dict[str, str]:
        """libpq's variables for the superuser (what ``psql`` and init scripts read)."""
        return {
            "PGHOST": LOOPBACK,
            "PGPORT": str(self.port),
            "PGUSER": self.superuser.name,
            "PGPASSWORD": self.superuser.password,
            "PGDATABASE": database or self.superuser.database,
        }

    def psql(self, *args: str, database: str | None = None, env: Mapping[str, str] | None = None) -> str:
        """Run ``psql`` as the superuser; fail with its message."""
        result = subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.client_env(database), **(env or {})},
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"psql {' '.join(args)} failed: {result.stderr.strip()}", obj="service/postgres"
            )
        return result.stdout

    def url(self, user: str, password: str, database: str) -> str:
        return f"postgresql+psycopg2://{user}:{password}@{LOOPBACK}:{self.port}/{database}"

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the superuser's own database (an Airflow metadata database's)."""
        return self.url(self.superuser.name, self.superuser.password, self.superuser.database)

    def info(self) -> dict[str, str]:
        """Where and as whom to connect; the address first (what a terminal may show)."""
        user = self.superuser
        return {
            "address": f"{LOOPBACK}:{self.port}",
            "database": user.database,
            "username": user.name,
            "password": user.password,
            "url": self.database_url,
        }

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running():
                raise self.process.fail(f"exited with code {self.process.popen.returncode}")
            ready = subprocess.run(
                [_binary("pg_isready"), "-h", LOOPBACK, "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise self.process.fail(f"not accepting connections after {timeout:.0f} s")

    def stop(self) -> None:
        self.process.stop()
        if self.data.name.startswith("flux-postgres-"):
            shutil.rmtree(self.data, ignore_errors=True)


def start_postgres(workdir: Path, superuser: Superuser | None = None) -> PostgresServer:
    """Start a fresh server whose superuser and first database are ``superuser`` (by default
    ``airflow`` with a throwaway password, for an Airflow metadata database)."""
    return PostgresServer(workdir, superuser or Superuser("airflow", secrets.token_urlsafe(16), "airflow"))
