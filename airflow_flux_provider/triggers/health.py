"""Waits in the triggerer, not a worker slot, until applied objects are healthy (kstatus)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Literal, NotRequired, TypedDict

from airflow.triggers.base import TriggerEvent

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kube import KubeError, ObjectKey, health
from airflow_flux_provider.triggers.base import RecordedTrigger


class ResumeState(TypedDict):
    """What a deploy task that deferred needs to finish: when it started, and (a Kustomization)
    the outcome of the apply it waits on."""

    started: float
    outcome: NotRequired[dict[str, Any]]


class HealthEvent(TypedDict):
    """``healthy``, ``failed`` (a failed object or the timeout) or ``error`` (the check itself)."""

    status: Literal["healthy", "failed", "error"]
    message: str
    elapsed: float
    state: ResumeState


class HealthCheckTrigger(RecordedTrigger):
    """Polls the objects' kstatus every ``poll_interval`` seconds until all are Current,
    one fails, or ``timeout`` seconds have passed since ``started_at`` (so a restarted
    trigger keeps the original deadline). The event carries the outcome, a message and
    ``state``: what the deferred task needs to finish (the event is the one channel every
    way of running triggers hands back)."""

    def __init__(
        self,
        *,
        objects: list[list[str]],
        kubernetes_conn_id: str,
        impersonate: str | None,
        timeout: float,
        poll_interval: float,
        started_at: float,
        state: ResumeState,
    ) -> None:
        super().__init__()
        self.objects = objects
        self.kubernetes_conn_id = kubernetes_conn_id
        self.impersonate = impersonate
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.started_at = started_at
        self.state = state

    def _event(
        self, status: Literal["healthy", "failed", "error"], message: str, elapsed: float
    ) -> TriggerEvent:
        event: HealthEvent = {"status": status, "message": message, "elapsed": elapsed, "state": self.state}
        return TriggerEvent(dict(event))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_flux_provider.hooks.kubernetes import ClusterHook

        keys = [ObjectKey(*parts) for parts in self.objects]
        try:
            cluster = await ClusterHook(self.kubernetes_conn_id).acluster(impersonate=self.impersonate)
        except FluxError as err:
            yield self._event("error", str(err), time.time() - self.started_at)
            return
        while True:  # the task checked just before deferring: wait first
            waited = time.time() - self.started_at
            await asyncio.sleep(min(self.poll_interval, max(self.timeout - waited, 0.1)))
            elapsed = time.time() - self.started_at
            try:
                report = await asyncio.to_thread(health.check, cluster, keys)
            except KubeError as err:
                yield self._event("error", err.message, elapsed)
                return
            if report.healthy:
                yield self._event("healthy", f"{len(keys)} objects healthy", elapsed)
                return
            if report.failed or elapsed >= self.timeout:
                yield self._event("failed", report.failure_message(elapsed), elapsed)
                return
