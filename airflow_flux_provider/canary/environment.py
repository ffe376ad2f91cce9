"""The real world a tick acts on: the cluster (workloads, routers, status), Prometheus, webhooks."""

from __future__ import annotations

import logging

from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.canary.metrics import MetricChecker, MetricResult
from airflow_flux_provider.canary.routers import Router, router_for
from airflow_flux_provider.canary.status import CanaryStatus
from airflow_flux_provider.canary.webhooks import HookOutcome, first_passing, run_hooks, send_event
from airflow_flux_provider.canary.workloads import CanaryWorkloads, Readiness
from airflow_flux_provider.credentials import SecretLookup
from airflow_flux_provider.events import Event, ObjectReference, emit
from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey
from airflow_flux_provider.specs.flagger import Canary, MetricTemplate

log = logging.getLogger(__name__)


class ClusterEnvironment:
    """Implements :class:`~airflow_flux_provider.canary.analysis.Environment` over ``Cluster``."""

    def __init__(self, cluster: Cluster, canary: Canary, credentials: SecretLookup | None = None) -> None:
        self.cluster = cluster
        self.canary = canary
        self.workloads = CanaryWorkloads(cluster, canary)
        self.metrics = MetricChecker(canary, self._template, credentials)
        self.metrics.validate()

    def _template(self, namespace: str, name: str) -> MetricTemplate | None:
        try:
            obj = self.cluster.get(ObjectKey("flagger.app/v1beta1", "MetricTemplate", namespace, name))
        except KubeError as err:
            raise CanaryError(
                f"cannot read MetricTemplate/{namespace}/{name}: {err.message}", obj=self.canary.ref
            ) from None
        if obj is None:
            return None
        template = MetricTemplate.model_validate(obj)
        return template

    def bootstrap(self) -> None:
        self.workloads.ensure_services()
        self.workloads.ensure_primary()

    def readiness(self, which: str) -> Readiness:
        return self.workloads.readiness(which)

    def target_hash(self) -> str:
        return self.workloads.target_hash()

    def scale_canary_up(self) -> None:
        self.workloads.scale("canary", self.workloads.canary_replicas())

    def scale_canary_down(self) -> None:
        self.workloads.scale("canary", 0)

    def promote(self) -> None:
        self.workloads.promote()

    def router(self, status: CanaryStatus) -> Router:
        return router_for(self.cluster, self.canary, status.iterations)

    def run_hooks(self, kind: str, phase: str, spec: str) -> HookOutcome:
        outcome = run_hooks(self.canary, kind, phase, spec)
        if not outcome.passed and kind == "post-rollout":
            log.warning("%s: %s", self.canary.ref, outcome.message)
        return outcome

    def rollback_requested(self, phase: str, spec: str) -> str | None:
        hook = first_passing(self.canary, "rollback", phase, spec)
        return hook.name if hook else None

    def check_metrics(self) -> list[MetricResult]:
        return self.metrics.run()

    def event(
        self,
        status: CanaryStatus,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        metrics: dict[str, float] | None = None,
    ) -> None:
        meta = self.canary.metadata
        values = {name: f"{value:g}" for name, value in (metrics or {}).items()}
        emit(
            Event(
                involved_object=ObjectReference(
                    "Canary", meta.name, meta.namespace or "default", "flagger.app/v1beta1"
                ),
                severity="error" if warning else "info",
                reason=reason,
                message=message,
                metadata={"phase": status.phase, "canaryWeight": str(status.canary_weight), **values},
            )
        )
        send_event(self.canary, status.phase, status.last_applied_spec, message, warning)
