"""The MLflow tracking server as an Airflow connection (type ``flux_mlflow``).

Host is the tracking URI (``http://mlflow:5000``); login/password or the ``token``
extra become MLflow's basic or bearer auth. Without a ``flux_mlflow_default`` connection the
standard ``MLFLOW_TRACKING_URI`` environment variable is used, and with neither, tracking is
off; a connection id a task names explicitly must exist (a typo never turns tracking off).
"""

from __future__ import annotations

import io
import logging
import os
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_flux_provider.credentials import redact_url
from airflow_flux_provider.hooks import MLFLOW_CONN_ID
from airflow_flux_provider.hooks.connections import ConnectionSetupError
from airflow_flux_provider.tracking import DeploymentTracker, TrackingError


class _InfoStream(io.TextIOBase):
    """A text stream whose lines become INFO records of the ``mlflow`` logger."""

    enabled = True  # MLflow's disable_logging()/enable_logging() switch this, as on its own stream

    def write(self, text: str) -> int:
        for line in text.splitlines() if self.enabled else ():
            if line.strip():
                logging.getLogger("mlflow").info(line)
        return len(text)


def mlflow_logs_to_task_log() -> None:
    """Hand MLflow's messages back to ``logging``, where Airflow records each one at its level.

    MLflow gives its loggers a handler of its own on stderr and prints some messages there
    directly (``eprint``: "Created version '2' of model 'digits'"), and a task log shows stderr
    as ERROR. Importing mlflow sets that handler up, so it is imported first.
    """
    import mlflow  # noqa: F401
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    for name in ("mlflow", "alembic", "sqlalchemy.engine", "huey"):
        logger = logging.getLogger(name)
        own = [h for h in logger.handlers if getattr(h, "stream", None) is stream]
        if own:
            logger.handlers = [h for h in logger.handlers if h not in own]
            logger.propagate = True
    logging_utils.MLFLOW_LOGGING_STREAM = _InfoStream()  # type: ignore[assignment]  # eprint reads it per call


class MlflowTrackingHook(BaseHook):
    conn_name_attr = "mlflow_conn_id"
    default_conn_name = MLFLOW_CONN_ID
    conn_type = "flux_mlflow"
    hook_name = "MLflow tracking server"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    def tracking_uri(self) -> str | None:
        """The tracking URI, or None when tracking is off; with one, MLflow logs into the task log."""
        uri = self._uri()
        if uri:
            mlflow_logs_to_task_log()
        return uri

    def _uri(self) -> str | None:
        try:
            conn = self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            if self.mlflow_conn_id != self.default_conn_name:
                raise ConnectionSetupError(
                    f"there is no Airflow connection {self.mlflow_conn_id!r}; create it with type "
                    "flux_mlflow (host = tracking URI) or fix mlflow_conn_id",
                    obj=f"MLflow connection '{self.mlflow_conn_id}'",
                ) from None
            return os.environ.get("MLFLOW_TRACKING_URI") or None  # MLflow's own convention
        extra = conn.extra_dejson
        # MlflowClient reads credentials only from the environment; this process runs one task.
        if conn.login:
            os.environ["MLFLOW_TRACKING_USERNAME"] = conn.login
            os.environ["MLFLOW_TRACKING_PASSWORD"] = conn.password or ""
        if extra.get("token"):
            os.environ["MLFLOW_TRACKING_TOKEN"] = extra["token"]
        return _uri_of(conn)

    def required_tracking_uri(self, purpose: str) -> str:
        """The tracking URI for work that cannot be skipped (training, promotion): missing is an error."""
        uri = self.tracking_uri()
        if not uri:
            raise TrackingError(
                f"no MLflow connection '{self.mlflow_conn_id}' and no MLFLOW_TRACKING_URI; "
                f"{purpose} needs a tracking server",
                field="mlflow_conn_id",
            )
        return uri

    def test_connection(self) -> tuple[bool, str]:
        """The form's "Test" button: the server is healthy and takes the credentials (an API read)."""
        import requests

        try:
            conn = self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            return False, f"there is no Airflow connection {self.mlflow_conn_id!r}"
        uri = _uri_of(conn).rstrip("/")
        token = conn.extra_dejson.get("token")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = (conn.login, conn.password or "") if conn.login else None
        shown = redact_url(uri)
        try:
            health = requests.get(f"{uri}/health", timeout=15)
            search = requests.get(
                f"{uri}/api/2.0/mlflow/experiments/search",
                params={"max_results": 1},
                headers=headers,
                auth=auth,
                timeout=15,
            )
        except requests.RequestException as err:
            return False, f"cannot reach {shown} ({type(err).__name__}); check the tracking URI (host)"
        if health.status_code != 200:
            return False, f"{shown}/health answered {health.status_code}; is this an MLflow tracking server?"
        if search.status_code in (401, 403):
            return (
                False,
                f"{shown} refused the credentials ({search.status_code}); check login/password or token",
            )
        if search.status_code != 200:
            return False, f"{shown} answered {search.status_code} to an experiment search; check its log"
        return True, f"{shown} is healthy and answers experiment searches with these credentials"

    def get_conn(self) -> DeploymentTracker | None:
        uri = self.tracking_uri()
        return DeploymentTracker(uri) if uri else None


def _uri_of(conn: Any) -> str:
    """The tracking URI a connection names: its host, or ``schema://host:port``."""
    host = str(conn.host or "")
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}" + (f":{conn.port}" if conn.port else "")
    return host
