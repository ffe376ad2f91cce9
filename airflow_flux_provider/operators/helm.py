"""``HelmReleaseOperator``: one Flux HelmRelease reconciled by one Airflow task.

The task resolves the chart (a local chart or ``.tgz``, a source task's XCom: its ``path`` on
this worker, else a copy of its ``url`` from the artifact store, an ``oci://`` reference, or a
chart pulled from ``repository_url``), composes the values
(``extra_values`` go on top: DAG params or ``{{ var.json.… }}`` Airflow Variables through
templating), and runs :class:`~airflow_flux_provider.helm.release.ReleaseReconciler`. In
deferrable mode helm does not wait for rollouts: the task defers to
:class:`~airflow_flux_provider.triggers.health.HealthCheckTrigger` over the release's objects
and, when it resumes, reconciles again (tests, or remediation if the objects never became
healthy). Events, the status record and an MLflow run (chart version, values digest,
revision) record the outcome; values themselves never reach logs, XCom or MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from airflow_flux_provider.kube import ObjectKey
from airflow_flux_provider.links.flux_view import FluxViewLink
from airflow_flux_provider.links.mlflow import MlflowRunLink
from airflow_flux_provider.operators.deploy import ClusterDeployOperator
from airflow_flux_provider.operators.tracking import record_deployment
from airflow_flux_provider.tracking import DeploymentRun

if TYPE_CHECKING:
    from airflow_flux_provider.triggers.health import HealthEvent


def local_artifact(xcom: dict[str, Any], folder: Path) -> str:
    """A source task's artifact (a chart ``.tgz``) as a file here: its ``path`` when this worker
    holds the store, else a copy from the store at its ``url`` (another machine fetched it)."""
    from airflow_flux_provider.operators.sources import artifact_store
    from airflow_flux_provider.sources.artifacts import Artifact

    artifact = Artifact.from_xcom(xcom)
    if artifact.path and Path(artifact.path).is_file():
        return artifact.path
    data = artifact_store(artifact.store_url).get(artifact.digest)  # the digest is checked there
    target = folder / f"{artifact.digest.removeprefix('sha256:')}.tgz"  # named by what it holds, not the URL
    folder.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return str(target)


class HelmReleaseOperator(ClusterDeployOperator):
    """Install/upgrade/test/remediate (or uninstall) one HelmRelease; XCom: the release outcome."""

    flux_kind = "HelmRelease"
    flux_api_version = "helm.toolkit.fluxcd.io/v2"
    template_fields: Sequence[str] = (
        *ClusterDeployOperator.template_fields,
        "chart",
        "repository_url",
        "extra_values",
    )
    operator_extra_links = (FluxViewLink(), MlflowRunLink())

    def __init__(
        self,
        *,
        chart: Any = None,
        repository_url: str | None = None,
        extra_values: dict[str, Any] | None = None,
        force: bool = False,
        reset: bool = False,
        uninstall: bool = False,
        oci_plain_http: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chart = chart
        self.repository_url = repository_url
        self.extra_values = extra_values or {}
        self.force = force
        self.reset = reset
        self.uninstall = uninstall
        self.oci_plain_http = oci_plain_http

    # -- wiring ----------------------------------------------------------------------------------
    def _chart(self, hr: Any, cli: Any) -> Any:
        from airflow_flux_provider.helm.chart import load_chart, pull_chart
        from airflow_flux_provider.helm.errors import ChartError

        selection = hr.spec.chart.spec if hr.spec.chart else None
        constraint = selection.version if selection else "*"
        if self.chart is not None:
            chart = self.chart
            if isinstance(chart, dict) and chart.get("url"):  # a source task's artifact, maybe made elsewhere
                chart = local_artifact(chart, cli.work_dir / "charts")
            return load_chart(
                chart, obj=hr.ref, constraint=constraint, cli=cli, plain_http=self.oci_plain_http
            )
        if self.repository_url and selection is not None:
            return pull_chart(
                cli, self.repository_url, selection.chart, constraint, cli.work_dir / "charts", obj=hr.ref
            )
        raise ChartError(
            "no chart given: pass chart= (a chart folder, .tgz or the XCom of a source task with 'path', "
            "or an oci:// reference) or repository_url= for spec.chart.spec.chart",
            obj=hr.ref,
            field="spec.chart",
        )

    def _reconciler(self, hr: Any, cli: Any, cluster: Any, records: Any) -> Any:
        from airflow_flux_provider.helm.release import ReleaseReconciler
        from airflow_flux_provider.helm.values import compose_values

        chart = self._chart(hr, cli)
        selection = hr.spec.chart.spec if hr.spec.chart else None
        files = (
            chart.values_files(
                selection.values_files, ignore_missing=selection.ignore_missing_values_files, obj=hr.ref
            )
            if selection
            else []
        )
        values = compose_values(hr, cluster, values_files=files, overrides=self.extra_values)
        return ReleaseReconciler(
            hr, chart, values, cli, cluster, force=self.force, reset=self.reset, wait=not self.deferrable,
            records=records,
        )  # fmt: skip

    # -- execution -------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        self.point_view(context, self.flux_object())
        return self._run(context, health=None, started=time.time())

    def execute_complete(self, context: Context, event: HealthEvent | None = None) -> dict[str, Any]:
        health, state = self.resumed(event)
        return self._run(context, health=health, started=state["started"])

    def _run(self, context: Context, *, health: str | None, started: float) -> dict[str, Any]:
        from airflow_flux_provider.helm.cli import HelmCli
        from airflow_flux_provider.helm.release import uninstall_release

        hr = self.flux_object()
        cluster, records = self._cluster(hr), self._controller()
        self.skip_if_suspended(hr, records)
        with HelmCli(cluster) as cli:
            if self.uninstall:
                found = uninstall_release(hr, cli, cluster, records=records)
                return {"uninstalled": found, "release": hr.ref}
            reconciler = self._reconciler(hr, cli, cluster, records)
            if health is not None:
                reconciler.mark_unhealthy(health)
            outcome = reconciler.reconcile()
        self.log.info("%s: %s (actions: %s)", hr.ref, outcome.message, ", ".join(outcome.actions) or "none")
        if outcome.awaiting_health:
            timeout = (hr.spec.upgrade.timeout or hr.spec.timeout).total_seconds()
            keys = [ObjectKey(*parts) for parts in outcome.awaiting_health]
            error = self._await_health(hr, cluster, keys, timeout=timeout, state={"started": started})
            # as after a trigger event: reconcile again (tests, or remediation when unhealthy)
            return self._run(context, health=error, started=started)
        return self._complete(context, hr, outcome, started)

    def _complete(self, context: Context, hr: Any, outcome: Any, started: float) -> dict[str, Any]:
        from airflow_flux_provider.helm.errors import ReleaseError
        from airflow_flux_provider.helm.state import Action

        duration = time.time() - started
        record_deployment(
            context,
            DeploymentRun(
                kind="HelmRelease",
                name=hr.metadata.name,
                namespace=hr.metadata.namespace,
                cluster=self.cluster_name,
                params={
                    "release": f"{outcome.namespace}/{outcome.release_name}",
                    "chart": outcome.chart_name,
                    "chart_version": outcome.chart_version,
                    "values_digest": outcome.config_digest,
                },
                metrics={
                    "revision": float(outcome.revision),
                    "duration_seconds": duration,
                    "ready": 1.0 if outcome.ready else 0.0,
                    "upgrades": float(outcome.count(Action.UPGRADE)),
                    "rollbacks": float(outcome.count(Action.ROLLBACK)),
                    "drifted_objects": float(len(outcome.drifted)),
                },
                tags={"flux.revision": outcome.chart_version, "helm.release": outcome.release_name},
                artifacts={
                    "actions.txt": "\n".join(outcome.actions),
                    **({"drift.txt": "\n".join(outcome.drifted)} if outcome.drifted else {}),
                },
                status="FINISHED" if outcome.ready else "FAILED",
            ),
            self.mlflow_conn_id,
        )
        if not outcome.ready:
            raise ReleaseError(outcome.message, obj=hr.ref)
        return {**outcome.to_xcom(), "duration_seconds": round(duration, 3)}
