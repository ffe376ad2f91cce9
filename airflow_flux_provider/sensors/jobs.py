"""``JobCompletionSensor``: wait until a Kubernetes Job completes, e.g. the training Job a reconcile applied.

Deferrable by default (the wait runs in the triggerer as
:class:`~airflow_flux_provider.triggers.jobs.JobCompletionTrigger`). The task succeeds when
the Job completes and fails, naming the Job and how to read its logs, when it fails. XCom:
``{status, namespace, name, uid, message}``; the ``uid`` tells this Job's results (an MLflow
run tagged with it) from those of an earlier Job of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_flux_provider.hooks import KUBERNETES_CONN_ID
from airflow_flux_provider.sensors.base import ChangeSensor
from airflow_flux_provider.triggers.jobs import JobCompleted, JobCompletionTrigger, job_check


class JobCompletionSensor(ChangeSensor):
    template_fields: Sequence[str] = ("namespace", "job_name", "kubernetes_conn_id", "impersonate")
    trigger_failed = "the Job completion trigger failed"
    fired = "complete"

    def __init__(
        self,
        *,
        namespace: str,
        job_name: str,
        kubernetes_conn_id: str = KUBERNETES_CONN_ID,
        impersonate: str | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 10)
        super().__init__(deferrable=deferrable, **kwargs)
        self.namespace = namespace
        self.job_name = job_name
        self.kubernetes_conn_id = kubernetes_conn_id
        self.impersonate = impersonate

    def check(self) -> JobCompleted | None:
        from airflow_flux_provider.hooks.kubernetes import ClusterHook

        cluster = ClusterHook(self.kubernetes_conn_id).cluster(impersonate=self.impersonate)
        return job_check(cluster, self.namespace, self.job_name)

    def trigger(self) -> JobCompletionTrigger:
        return JobCompletionTrigger(
            namespace=self.namespace,
            name=self.job_name,
            kubernetes_conn_id=self.kubernetes_conn_id,
            impersonate=self.impersonate,
            poll_interval=self.poke_interval,
        )
