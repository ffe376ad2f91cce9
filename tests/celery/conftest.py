"""One Airflow on the CeleryExecutor for the Celery tests: Redis, the four components, two workers.

The workers stand for two machines (each its own AIRFLOW_HOME, HOME, temp and work folder,
see :meth:`~flux_devkit.services.airflow_scheduler.AirflowScheduler.start_worker`): a task that
leaves something in a local folder for the next task fails when the next one runs on the other
worker. What they share is what machines share: the metadata DB behind the API server, the
broker, the cluster (the session's sandbox), Git, and the ``s3://`` artifact store on the local
S3 server.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flux_devkit.services.airflow_scheduler import AirflowScheduler, celery_settings, start_airflow_scheduler
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.redis import RedisServer, start_redis
from flux_devkit.services.s3 import S3Server
from tests.services.connections import git_conn, kubernetes_conn
from tests.services.fixtures import _home_with_db

WORKERS = ("worker-a", "worker-b")
#: Task processes per worker: two workers of two fill the two cores of the test machine.
CONCURRENCY = 2


@pytest.fixture(scope="session")
def redis_server(services_dir: Path) -> Iterator[RedisServer]:
    server = start_redis(services_dir / "redis")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_airflow(
    services_dir: Path,
    migrated_db: Path,
    redis_server: RedisServer,
    s3_server: S3Server,
    git_server: GitServer,
    sandbox: Any,
) -> Iterator[AirflowScheduler]:
    """api-server, scheduler, dag-processor, triggerer on the CeleryExecutor, workers ``WORKERS``.

    Connections: ``kubernetes_default`` (the sandbox), ``git-credentials`` (the git server),
    ``flux_artifacts`` (the artifact store's bucket).
    """
    root = services_dir / "airflow-celery"
    _home_with_db(root / "home", migrated_db)
    (root / "dags").mkdir()
    env = {
        **celery_settings(redis_server.url(0), redis_server.url(1)),
        **s3_server.artifact_store_env(uuid.uuid4().hex[:8]),
        "AIRFLOW_CONN_GIT-CREDENTIALS": json.dumps(git_conn(git_server)),
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kubernetes_conn(sandbox)),
        # one key for every machine, as a deployment configures it (sealed renders, connections)
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    stack = start_airflow_scheduler(
        root / "home", root / "logs", bundle="celery", dags_folder=root / "dags", env=env
    )
    try:
        for name in WORKERS:
            stack.start_worker(name, root / name, concurrency=CONCURRENCY)
    except BaseException:
        stack.stop()
        raise
    yield stack
    stack.stop()
