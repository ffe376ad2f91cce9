"""What the operators that deploy a Flux object into a cluster share.

HelmRelease and Kustomization tasks both act as the object's ``spec.serviceAccountName``
(Flux impersonates it the same way for both), wait for health deferred or in the worker,
and record an MLflow run under one cluster name.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.hooks import KUBERNETES_CONN_ID, MLFLOW_CONN_ID
from airflow_flux_provider.kube import Cluster, ObjectKey, service_account_user
from airflow_flux_provider.kube import health as kube_health
from airflow_flux_provider.links.flux_view import push_flux_object
from airflow_flux_provider.operators.base import FluxObjectOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_flux_provider.triggers.health import HealthEvent, ResumeState


class ClusterDeployOperator(FluxObjectOperator):
    """Connection, cluster name, impersonation, and the health wait after a deploy."""

    kubernetes_conn_id: str  # always set: these tasks act in a cluster

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = KUBERNETES_CONN_ID,
        cluster_name: str = "default",
        deferrable: bool = True,
        poll_interval: float = 5.0,
        mlflow_conn_id: str | None = MLFLOW_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(kubernetes_conn_id=kubernetes_conn_id, **kwargs)
        self.cluster_name = cluster_name
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.mlflow_conn_id = mlflow_conn_id

    def point_view(self, context: Context, obj: Any) -> None:
        """Name the object this run acts on, for the Flux view and the task's "Flux view" button."""
        push_flux_object(
            context, self.kubernetes_conn_id, self.flux_kind, obj.metadata.namespace, obj.metadata.name
        )

    def _impersonate(self, obj: Any) -> str | None:
        """The user the object's service account maps to; None acts as the connection itself."""
        account = obj.spec.service_account_name
        return service_account_user(obj.metadata.namespace, account) if account else None

    def _cluster(self, obj: Any) -> Cluster:
        """The cluster as ``obj`` sees it: the connection's identity, or its service account."""
        user = self._impersonate(obj)
        cluster = self.connection_cluster()
        return cluster.impersonating(user) if user else cluster

    def _controller(self) -> Cluster:
        """The connection's own identity, never impersonated: as a Flux controller, it reads and
        writes the Flux objects' status (the service account only applies what they deploy)."""
        return self.connection_cluster()

    def _await_health(
        self, obj: Any, cluster: Cluster, keys: list[ObjectKey], *, timeout: float, state: ResumeState
    ) -> str | None:
        """Wait until ``keys`` are healthy; return None, or why they are not.

        One check here first: objects that are already rolled out need no trip through the
        triggerer (and a trigger firing right after deferral trips Airflow 3.3's stale
        defer-exit race, apache/airflow#72716). Then, deferrable, the task defers to
        :class:`HealthCheckTrigger` and ``execute_complete`` gets its event with ``state``;
        otherwise it polls in the worker.
        """
        report = kube_health.check(cluster, keys)
        if report.healthy:
            return None
        if report.failed:
            return report.failure_message(0.0)
        if self.deferrable:
            from airflow_flux_provider.triggers.health import HealthCheckTrigger

            self.defer(
                trigger=HealthCheckTrigger(
                    objects=[[k.api_version, k.kind, k.namespace, k.name] for k in keys],
                    kubernetes_conn_id=self.kubernetes_conn_id,
                    impersonate=self._impersonate(obj),
                    timeout=timeout,
                    poll_interval=self.poll_interval,
                    started_at=time.time(),
                    state=state,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=timeout + 60),
            )
        try:
            kube_health.wait(cluster, keys, timeout=timeout, interval=self.poll_interval)
        except kube_health.HealthCheckError as err:
            return err.message
        return None

    def resumed(self, event: HealthEvent | None) -> tuple[str | None, ResumeState]:
        """The health trigger's verdict (None when healthy, else why not) and the state deferred with."""
        if not event or "state" not in event:
            raise FluxError(
                "the health check trigger sent no usable event; retry the task", obj=f"task '{self.task_id}'"
            )
        return (None if event["status"] == "healthy" else event["message"]), event["state"]
