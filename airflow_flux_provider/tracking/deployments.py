"""Each reconcile, Helm release or canary analysis becomes one MLflow run.

The experiment is per cluster and app (``deployments/<cluster>/<app>``), so the MLflow
experiment view reads as the history of what went where; it is created with a description
and ``flux.cluster``/``flux.app`` tags. A run that deployed a registered model version marks
that version (tags and description) with where it now runs and a link to the run, so the
model version page answers "where is this deployed?". Runs are written through
``MlflowClient`` with an explicit tracking URI rather than the fluent API: Airflow
workers run many tasks per process and the fluent API keeps a process-global active run.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_flux_provider.errors import FluxError

# MLflow limits (see mlflow.utils.validation): param values up to 6000 chars, tag values 8000.
_MAX_PARAM = 6000
_MAX_TAG = 8000
_KEY_UNSAFE = re.compile(r"[^0-9A-Za-z_\-. /]")
_REDACTED = "***"


class TrackingError(FluxError):
    """The MLflow server refused or could not be reached."""


def _key(name: str) -> str:
    """MLflow keys allow alphanumerics, ``_ - . /`` and spaces; anything else becomes ``_``."""
    return _KEY_UNSAFE.sub("_", name)[:250]


def _clip(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ModelRef:
    """A registered model version a deployment rolled out."""

    name: str
    version: str


@dataclass
class DeploymentRun:
    """What one deployment records. ``secret_params`` names params whose value must not be stored."""

    kind: str
    name: str
    namespace: str = "flux-system"
    cluster: str = "sandbox"
    app: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    secret_params: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    step_metrics: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    status: str = "FINISHED"
    model: ModelRef | None = None

    @property
    def experiment(self) -> str:
        return f"deployments/{self.cluster}/{self.app or self.name}"

    @property
    def run_name(self) -> str:
        return f"{self.kind.lower()}-{self.namespace}-{self.name}"


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    experiment_id: str
    url: str


class DeploymentTracker:
    """Writes :class:`DeploymentRun` records to an MLflow tracking server."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri.rstrip("/")
        self.client = MlflowClient(tracking_uri=self.tracking_uri)

    def experiment_id(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """The experiment's id; a new one gets ``tags`` (``mlflow.note.content`` is its description)."""
        try:
            found = self.client.get_experiment_by_name(name)
            return (
                found.experiment_id if found else self.client.create_experiment(name, tags=dict(tags or {}))
            )
        except Exception as err:  # MlflowException, requests errors: all mean "server said no"
            raise TrackingError(
                f"cannot open MLflow experiment '{name}' at {self.tracking_uri}: {err}"
            ) from None

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.tracking_uri}/#/experiments/{experiment_id}/runs/{run_id}"

    def record(self, run: DeploymentRun) -> RecordedRun:
        """Write the whole run in one batch and close it with ``run.status``."""
        from mlflow.entities import Metric, Param, RunTag

        app = run.app or run.name
        experiment_id = self.experiment_id(
            run.experiment,
            {
                "mlflow.note.content": f"Deployments of {app} to cluster {run.cluster}: one run per "
                "reconcile, Helm release or canary analysis, tagged with the Airflow task that made it.",
                "flux.cluster": run.cluster,
                "flux.app": app,
            },
        )
        tags = {
            "mlflow.runName": run.run_name,
            "flux.kind": run.kind,
            "flux.name": run.name,
            "flux.namespace": run.namespace,
            "flux.cluster": run.cluster,
            **run.tags,
        }
        params = {
            _key(k): _REDACTED if k in run.secret_params else _clip(v, _MAX_PARAM)
            for k, v in run.params.items()
        }
        now = int(time.time() * 1000)
        metrics = [Metric(_key(k), float(v), now, 0) for k, v in run.metrics.items()]
        metrics += [
            Metric(_key(k), float(v), now, step)
            for step, values in run.step_metrics
            for k, v in values.items()
        ]
        try:
            created = self.client.create_run(experiment_id, run_name=run.run_name)
            run_id = created.info.run_id
            for batch in _batches(metrics, 1000):
                self.client.log_batch(run_id, metrics=batch)
            self.client.log_batch(
                run_id,
                params=[Param(k, v) for k, v in params.items()],
                tags=[RunTag(_key(k), _clip(v, _MAX_TAG)) for k, v in tags.items()],
            )
            self._log_artifacts(run_id, run.artifacts)
            self.client.set_terminated(run_id, status=run.status)
            recorded = RecordedRun(run_id, experiment_id, self.run_url(experiment_id, run_id))
            if run.model is not None and run.status == "FINISHED":
                self._mark_deployed(run, run.model, recorded)
        except Exception as err:
            raise TrackingError(
                f"MLflow at {self.tracking_uri} refused the run for {run.run_name}: {err}"
            ) from None
        return recorded

    def _mark_deployed(self, run: DeploymentRun, model: ModelRef, recorded: RecordedRun) -> None:
        """Tag the model version with where it runs and its last deployment run, and put the
        deployment first in its description (markdown, which the model version page renders)."""
        app = run.app or run.name
        self.client.set_model_version_tag(model.name, model.version, f"deployed.{_key(run.cluster)}", app)
        self.client.set_model_version_tag(model.name, model.version, "deployment_run", recorded.url)
        current = self.client.get_model_version(model.name, model.version).description or ""
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        line = f"- deployed to {run.cluster}/{app} at {stamp}: [deployment run]({recorded.url})"
        description = f"{line}\n{current}" if current else line  # newest first
        self.client.update_model_version(model.name, model.version, description=_clip(description, _MAX_TAG))

    def _log_artifacts(self, run_id: str, artifacts: Mapping[str, str]) -> None:
        if not artifacts:
            return
        with tempfile.TemporaryDirectory(prefix="flux-mlflow-") as tmp:
            for relative, text in artifacts.items():
                path = Path(tmp, relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            self.client.log_artifacts(run_id, tmp)


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
