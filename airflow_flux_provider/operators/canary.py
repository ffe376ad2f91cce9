"""``CanaryAnalysisOperator``: a Flagger Canary analysed from an Airflow task, one tick per interval.

Each tick runs briefly in the worker (bootstrap, checks, routing, status write), then the
task defers on a ``TimeDeltaTrigger`` for ``analysis.interval``, so waiting holds no
worker slot. The state lives in the Canary's ``.status`` in the cluster (a retried or
restarted task resumes from it); the deferral kwargs carry the per-step metric values
for the MLflow run and the worker time used so far.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, TypedDict

from airflow.sdk import Context

from airflow_flux_provider.canary import ClusterEnvironment, TickResult, load_status, save_status, tick
from airflow_flux_provider.canary.analysis import validate
from airflow_flux_provider.canary.errors import CanaryError, CanaryFailedError
from airflow_flux_provider.canary.metrics import MetricResult
from airflow_flux_provider.canary.timeline import CanaryStep, report_html, step_of, thresholds
from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.hooks import KUBERNETES_CONN_ID, MLFLOW_CONN_ID
from airflow_flux_provider.hooks.connections import FluxCredentialsHook, flux_credentials
from airflow_flux_provider.kube import KubeError
from airflow_flux_provider.links.flux_view import FluxViewLink, push_flux_object
from airflow_flux_provider.links.mlflow import MlflowRunLink
from airflow_flux_provider.operators.base import FluxObjectOperator
from airflow_flux_provider.operators.tracking import record_deployment
from airflow_flux_provider.tracking import DeploymentRun


def metric_credentials(name: str, *, obj: str, field: str) -> Credentials:
    """A MetricTemplate's ``secretRef`` read as the Airflow connection of that name.

    Login + password give basic auth; otherwise the ``token`` extra or the password is a
    Bearer token, as Flagger reads ``username``/``password`` or ``token`` from the Secret.
    """
    found = flux_credentials(FluxCredentialsHook, obj, secret_ref=name, field=field)
    if found.username:
        return found
    return Credentials(token=found.extra.get("token") or found.password)


def _measured(metric: MetricResult) -> str:
    """``request-duration 35 (ok)``, or why a metric has no value on this tick."""
    if metric.value is None:
        return f"{metric.name}: {metric.message}"
    return f"{metric.name} {metric.value:g} ({'ok' if metric.passed else 'failed'})"


class CanaryProgress(TypedDict):
    """What the task carries from tick to tick for its MLflow run and the Flux view's timeline
    (the analysis state itself lives in the Canary's ``.status``): one step per tick."""

    ticks: int
    steps: list[CanaryStep]
    worker_seconds: float


#: XCom key of the CanaryProgress (read back after each deferral, and by the Flux view)
PROGRESS_KEY = "canary_progress"
# A safety stop far beyond any real analysis (1000 intervals).
_DEFAULT_MAX_TICKS = 1000


class CanaryAnalysisOperator(FluxObjectOperator):
    """Run a Canary's analysis until it is Succeeded (return the status) or Failed (raise).

    The Canary object is applied to the cluster first (so ``.status`` has a home), unless
    ``apply_canary=False``. XCom: the final status record plus the decisions taken.
    """

    flux_kind = "Canary"
    flux_api_version = "flagger.app/v1beta1"
    kubernetes_conn_id: str
    operator_extra_links = (FluxViewLink(), MlflowRunLink())

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = KUBERNETES_CONN_ID,
        cluster_name: str = "default",
        apply_canary: bool = True,
        max_ticks: int = _DEFAULT_MAX_TICKS,
        mlflow_conn_id: str | None = MLFLOW_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(kubernetes_conn_id=kubernetes_conn_id, **kwargs)
        self.cluster_name = cluster_name
        self.apply_canary = apply_canary
        self.max_ticks = max_ticks
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        started = time.monotonic()
        canary = self.flux_object()
        namespace = canary.metadata.namespace or "default"
        push_flux_object(context, self.kubernetes_conn_id, "Canary", namespace, canary.metadata.name)
        self.skip_if_suspended(canary, self.connection_cluster())
        validate(canary)
        if self.apply_canary:
            manifest = {k: v for k, v in self.object_manifest().items() if k != "status"}
            try:
                self.connection_cluster().apply(manifest, force=True)
            except KubeError as err:
                raise CanaryError(
                    f"cannot apply the Canary: {err.message}; install the Canary CRD (flagger.app/v1beta1, "
                    "with the status subresource) or pass apply_canary=False",
                    obj=canary.ref,
                ) from None
        first: CanaryProgress = {"ticks": 0, "steps": [], "worker_seconds": 0.0}
        return self._tick(context, first, started)

    def execute_complete(
        self, context: Context, progress: CanaryProgress | None = None, event: Any = None
    ) -> dict[str, Any]:
        # A triggerer hands the defer kwargs back; ``dag.test()`` passes only the event, so
        # the progress also travels in this task's XCom.
        progress = progress or context["ti"].xcom_pull(task_ids=self.task_id, key=PROGRESS_KEY)
        return self._tick(context, progress, time.monotonic())

    def _tick(self, context: Context, progress: CanaryProgress, started: float) -> dict[str, Any]:
        canary = self.flux_object()
        cluster = self.connection_cluster()
        namespace, name = canary.metadata.namespace or "default", canary.metadata.name
        env = ClusterEnvironment(cluster, canary, metric_credentials)
        result = tick(canary, load_status(cluster, namespace, name), env)
        save_status(cluster, namespace, name, result.status)
        progress = self._progress(progress, result)
        self.log.info("%s tick %d: %s", canary.ref, progress["ticks"], result.decision)
        if result.metrics:
            self.log.info(
                "%s tick %d metrics at canary weight %d%%: %s",
                canary.ref,
                progress["ticks"],
                result.measured_weight,
                ", ".join(_measured(metric) for metric in result.metrics),
            )
        progress["worker_seconds"] += time.monotonic() - started
        if result.finished:
            return self._finish(context, canary, result, progress)
        if progress["ticks"] >= self.max_ticks:
            raise CanaryError(
                f"still {result.status.phase} after {progress['ticks']}"
                " ticks; raise max_ticks or open its gates",
                obj=canary.ref,
            )
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        interval = canary.spec.analysis.interval if canary.spec.analysis else timedelta(seconds=60)
        context["ti"].xcom_push(key=PROGRESS_KEY, value=progress)
        self.defer(
            trigger=TimeDeltaTrigger(interval),
            method_name="execute_complete",
            kwargs={"progress": progress},
        )

    @staticmethod
    def _progress(progress: CanaryProgress, result: TickResult) -> CanaryProgress:
        tick = progress["ticks"] + 1
        return {**progress, "ticks": tick, "steps": [*progress["steps"], step_of(tick, result)]}

    def _finish(
        self, context: Context, canary: Any, result: TickResult, progress: CanaryProgress
    ) -> dict[str, Any]:
        status = result.status
        failed = status.phase == "Failed"
        context["ti"].xcom_push(key=PROGRESS_KEY, value=progress)  # the view's timeline, last tick included
        decisions = [step["decision"] for step in progress["steps"]]
        record_deployment(
            context,
            DeploymentRun(
                kind="Canary",
                name=canary.metadata.name,
                namespace=canary.metadata.namespace or "default",
                cluster=self.cluster_name,
                params={"target": canary.spec.target_ref.name, "provider": canary.spec.provider or "istio"},
                metrics={
                    "ticks": float(progress["ticks"]),
                    "worker_seconds": progress["worker_seconds"],
                    "promoted": 0.0 if failed else 1.0,
                },
                step_metrics=[
                    (
                        step["tick"],
                        {
                            "canary_weight": step["weight"],
                            "failed_checks": step["failed_checks"],
                            **step["metrics"],
                        },
                    )
                    for step in progress["steps"]
                ],
                tags={"flagger.phase": status.phase, "flagger.spec": status.last_applied_spec},
                artifacts={
                    "decisions.txt": "\n".join(decisions),
                    "canary-report.html": report_html(canary.ref, progress["steps"], thresholds(canary)),
                },
                status="FAILED" if failed else "FINISHED",
            ),
            self.mlflow_conn_id,
        )
        if failed:
            raise CanaryFailedError(f"canary analysis failed: {result.decision}", obj=canary.ref)
        return {"status": status.to_dict(), "decisions": decisions, "ticks": progress["ticks"]}
