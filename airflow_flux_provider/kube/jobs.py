"""A Job's outcome as a pipeline waiting on it reads it: finished or not, succeeded or why not.

kstatus calls a running Job "Current" (it exists and makes progress), which is right for a
deploy's health check and wrong for a pipeline whose next step needs the Job's results;
this reads the ``Complete``/``Failed`` conditions the Job controller sets when it is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_flux_provider.kube.cluster import Cluster, KubeError, ObjectKey


class JobFailedError(KubeError):
    """The Job ended ``Failed`` (backoffLimit reached, deadline exceeded) or is gone."""


@dataclass(frozen=True)
class JobOutcome:
    """``finished`` once the Job has a true ``Complete`` or ``Failed`` condition; ``uid`` tells
    this Job from an earlier one of the same name (a pipeline recreates its Job per run)."""

    namespace: str
    name: str
    uid: str
    finished: bool
    succeeded: bool
    message: str

    @property
    def ref(self) -> str:
        return f"Job/{self.namespace}/{self.name}"


def job_outcome(cluster: Cluster, namespace: str, name: str) -> JobOutcome:
    """Read the Job once; a missing Job is a :class:`JobFailedError` (nothing will finish it)."""
    job = cluster.get(ObjectKey("batch/v1", "Job", namespace, name))
    if job is None:
        raise JobFailedError(
            "the Job does not exist (deleted, or never applied); check the reconcile that creates it",
            obj=f"Job/{namespace}/{name}",
        )
    status = job.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    done = conditions.get("Complete") or conditions.get("Failed")
    counts = f"{status.get('succeeded', 0)} succeeded, {status.get('failed', 0)} failed"
    message = (
        f"{done.get('type')}: {done.get('reason', '')} {done.get('message', '')}".strip() if done else ""
    )
    return JobOutcome(
        namespace=namespace,
        name=name,
        uid=str(job["metadata"].get("uid", "")),
        finished=done is not None,
        succeeded="Complete" in conditions,
        message=f"{message or 'running'} ({counts})",
    )
