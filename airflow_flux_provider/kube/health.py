"""Health checks: the kstatus of a set of objects, once or until they settle."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from airflow_flux_provider.kube import kstatus
from airflow_flux_provider.kube.cluster import Cluster, KubeError, ObjectKey

Status = kstatus.Status


class HealthCheckError(KubeError):
    """Objects did not become ready in time, or failed."""


@dataclass(frozen=True)
class HealthReport:
    statuses: dict[ObjectKey, kstatus.ObjectStatus]

    @property
    def failed(self) -> list[ObjectKey]:
        return [k for k, s in self.statuses.items() if s.status == Status.FAILED]

    @property
    def pending(self) -> list[ObjectKey]:
        return [k for k, s in self.statuses.items() if s.status not in (Status.CURRENT, Status.FAILED)]

    @property
    def healthy(self) -> bool:
        return all(s.status == Status.CURRENT for s in self.statuses.values())

    @property
    def settled(self) -> bool:
        """Fail-fast as Flux: stop once anything failed or nothing is still in progress."""
        return bool(self.failed) or not self.pending

    def describe(self, keys: Iterable[ObjectKey]) -> str:
        return ", ".join(f"{k} status: '{self.statuses[k].status}': {self.statuses[k].message}" for k in keys)

    def failure_message(self, elapsed: float) -> str:
        if self.failed:
            return f"health check failed after {elapsed:.1f}s, failed early due to stalled resources: " + (
                f"[{self.describe(self.failed)}]"
            )
        return (
            f"health check failed after {elapsed:.1f}s: timeout waiting for: [{self.describe(self.pending)}]"
        )


def check(cluster: Cluster, keys: Iterable[ObjectKey]) -> HealthReport:
    """One pass over ``keys`` (used by deferrable triggers between polls), read as the apply reads
    them (:meth:`Cluster.get_many`): 1,000 Deployments cost one LIST, not 1,000 GETs."""
    keys = list(keys)
    live = cluster.get_many(keys)
    statuses = {}
    for key in keys:
        obj = live[key]
        if isinstance(obj, KubeError):
            raise obj
        statuses[key] = kstatus.compute(obj)
    return HealthReport(statuses)


def wait(
    cluster: Cluster,
    keys: list[ObjectKey],
    *,
    timeout: float,
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> HealthReport:
    """Poll until every object is Current; raise :class:`HealthCheckError` on failure or timeout."""
    start = time.monotonic()
    while True:
        report = check(cluster, keys)
        elapsed = time.monotonic() - start
        if report.healthy:
            return report
        if report.failed or elapsed >= timeout:
            raise HealthCheckError(report.failure_message(elapsed))
        sleep(min(interval, max(timeout - elapsed, 0.05)))
