"""Watches Flux objects in the triggerer for ``flux reconcile`` requests, for an ``AssetWatcher``.

The DAG factory puts this trigger on an Asset its DAG is scheduled on, so ``kubectl annotate
kustomization apps reconcile.fluxcd.io/requestedAt=…`` (what ``flux reconcile`` does) starts
a run of the DAG that owns the object; the run's tasks record the request as handled in
``.status.lastHandledReconcileAt``. The trigger runs for as long as the DAG is deployed: it
polls every ``poll_interval`` seconds, fires once per new request value, and a failed poll
(an unreachable API server) is logged and retried, not fatal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Literal, TypedDict

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.record import flux_api_version
from airflow_flux_provider.kube.requests import pending_requests
from airflow_flux_provider.triggers.base import RecordedTrigger

log = logging.getLogger(__name__)


class ReconcileRequested(TypedDict):
    """``objects``: each requesting object's ref and the request value it fired for."""

    status: Literal["requested"]
    objects: dict[str, str]


class ReconcileRequestTrigger(RecordedTrigger, BaseEventTrigger):
    """Fires :class:`ReconcileRequested` whenever one of ``objects`` (``[kind, namespace, name]``)
    has a request that is not handled and that it has not fired for yet."""

    def __init__(self, *, objects: list[list[str]], kubernetes_conn_id: str, poll_interval: float) -> None:
        super().__init__()
        self.objects = objects
        self.kubernetes_conn_id = kubernetes_conn_id
        self.poll_interval = poll_interval

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_flux_provider.hooks.kubernetes import ClusterHook

        keys = [ObjectKey(flux_api_version(kind), kind, ns, name) for kind, ns, name in self.objects]
        fired: dict[str, str] = {}
        cluster: Cluster | None = None
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                cluster = cluster or await ClusterHook(self.kubernetes_conn_id).acluster()
                pending = await asyncio.to_thread(pending_requests, cluster, keys)
            except FluxError as err:
                log.warning("reconcile requests not checked, retrying in %ss: %s", self.poll_interval, err)
                continue
            new = {r.ref: r.requested_at for r in pending if fired.get(r.ref) != r.requested_at}
            if new:
                fired.update(new)
                event: ReconcileRequested = {"status": "requested", "objects": new}
                yield TriggerEvent(dict(event))
