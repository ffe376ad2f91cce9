"""The airflow_home fixture is this session's AIRFLOW_HOME with a migrated metadata DB."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def test_metadata_db_is_migrated(airflow_home: Path) -> None:
    assert str(airflow_home) == os.environ["AIRFLOW_HOME"]
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    assert {"dag", "dag_run", "task_instance", "connection", "alembic_version"} <= tables
