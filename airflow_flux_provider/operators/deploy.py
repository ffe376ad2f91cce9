"""What the operators that deploy a Flux object into a cluster share.

HelmRelease and Kustomization tasks both act as the object's ``spec.serviceAccountName``
(Flux impersonates it the same way for both), wait for health deferred or in the worker,
and record an MLflow run under one cluster name.
"""

from __future__ import annotations

from typing import Any

from airflow_flux_provider.hooks.kubernetes import (
    DEFAULT_CONN_ID,
    cluster_from_extras,
    connection_extras,
    service_account_user,
)
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.operators.base import FluxObjectOperator


class ClusterDeployOperator(FluxObjectOperator):
    def __init__(
        self,
        *,
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        cluster_name: str = "default",
        deferrable: bool = True,
        poll_interval: float = 5.0,
        mlflow_conn_id: str | None = "flux_mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.cluster_name = cluster_name
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.mlflow_conn_id = mlflow_conn_id

    def _impersonate(self, obj: Any) -> str | None:
        """The user the object's service account maps to; None acts as the connection itself."""
        account = obj.spec.service_account_name
        return service_account_user(obj.metadata.namespace, account) if account else None

    def _cluster(self, obj: Any, extras: dict[str, Any] | None = None) -> Cluster:
        """The cluster as ``obj`` sees it; ``extras`` saves reading the connection a second time."""
        if extras is None:
            extras = connection_extras(self.kubernetes_conn_id)
        return cluster_from_extras(extras, impersonate=self._impersonate(obj))
