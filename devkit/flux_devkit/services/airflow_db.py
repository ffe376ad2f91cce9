"""The Airflow metadata database of a local AIRFLOW_HOME (tests, demo): SQLite in the home by
default, or a server's (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``) for the Celery stacks, whose
many writers SQLite's one write lock cannot serve."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from flux_devkit.services.process import ServiceError

#: How long an Airflow process waits for another's lock on the SQLite database before its write
#: fails with "database is locked" (a 500 from the REST API). pysqlite waits 5 s by default; on
#: two loaded cores, with a 401-task run beside the ML story, a trigger's POST failed so. As long
#: as a task waits for the execution API (``AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT``).
SQLITE_CONNECT_ARGS = {"timeout": 30}
#: ... as Airflow's ``[database] sql_alchemy_connect_args`` (and ``_async``) name it: an import path
SQLITE_CONNECT_ARGS_PATH = f"{__name__}.SQLITE_CONNECT_ARGS"
CONN = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"


def connection_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """What Airflow components need on top of ``settings`` to reach their database: SQLite's
    lock wait, unless ``settings`` name a server database (whose driver knows no such argument)."""
    if not settings.get(CONN, "sqlite").startswith("sqlite"):
        return {}
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": SQLITE_CONNECT_ARGS_PATH,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": SQLITE_CONNECT_ARGS_PATH,
    }


def migrate_airflow_db(airflow_home: Path, settings: Mapping[str, str] | None = None) -> Path:
    """Run ``airflow db migrate`` for ``airflow_home``, on the database ``settings`` name
    (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``; SQLite in the home by default); return the home."""
    env = {**os.environ, **(settings or {}), "AIRFLOW_HOME": str(airflow_home)}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    log = airflow_home / "db-migrate.log"
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ServiceError(
            f"airflow db migrate failed (log {log}):\n{tail}", obj=f"AIRFLOW_HOME {airflow_home}"
        )
    return airflow_home
