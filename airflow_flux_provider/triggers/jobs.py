"""Waits in the triggerer until a Kubernetes Job has finished."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Literal, TypedDict

from airflow.triggers.base import TriggerEvent

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.jobs import JobFailedError, job_outcome
from airflow_flux_provider.triggers.base import RecordedTrigger, error_event, poll_until_changed


class JobCompleted(TypedDict):
    """The Job ``namespace/name`` (this ``uid``) completed; ``message`` has its counts."""

    status: Literal["complete"]
    namespace: str
    name: str
    uid: str
    message: str


def job_check(cluster: Cluster, namespace: str, name: str) -> JobCompleted | None:
    """None while the Job runs; raises :class:`JobFailedError` when it failed, with the fix."""
    outcome = job_outcome(cluster, namespace, name)
    if not outcome.finished:
        return None
    if not outcome.succeeded:
        raise JobFailedError(
            f"the Job failed: {outcome.message}; read its Pods' logs "
            f"(kubectl logs -n {namespace} job/{name}), fix the cause and run again",
            obj=outcome.ref,
        )
    return {
        "status": "complete",
        "namespace": namespace,
        "name": name,
        "uid": outcome.uid,
        "message": outcome.message,
    }


class JobCompletionTrigger(RecordedTrigger):
    """Reads the Job every ``poll_interval`` seconds; fires ``complete``, or ``error`` when it failed."""

    def __init__(
        self,
        *,
        namespace: str,
        name: str,
        kubernetes_conn_id: str,
        impersonate: str | None,
        poll_interval: float,
    ) -> None:
        super().__init__()
        self.namespace = namespace
        self.name = name
        self.kubernetes_conn_id = kubernetes_conn_id
        self.impersonate = impersonate
        self.poll_interval = poll_interval

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_flux_provider.hooks.kubernetes import ClusterHook

        try:
            cluster = await ClusterHook(self.kubernetes_conn_id).acluster(impersonate=self.impersonate)
        except FluxError as err:
            yield TriggerEvent(error_event(err))
            return
        check = partial(job_check, cluster, self.namespace, self.name)
        async for event in poll_until_changed(check, self.poll_interval):
            yield event
