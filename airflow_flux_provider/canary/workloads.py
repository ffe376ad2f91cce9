"""The workloads and Services Flagger generates around a target Deployment.

The target *is* the canary. Bootstrap clones it into ``<target>-primary`` (pod label
``<label>: <value>-primary``) and creates ``<svc>`` and ``<svc>-primary`` (selecting the
primary) and ``<svc>-canary`` (selecting the target). Promotion copies the target's pod
template onto the primary; readiness follows Flagger's per-Deployment rules.
"""

from __future__ import annotations

import copy
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.canary.status import spec_hash
from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey
from airflow_flux_provider.specs.flagger import Canary

SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
_COPIED_SPEC_FIELDS = ("progressDeadlineSeconds", "minReadySeconds", "revisionHistoryLimit", "strategy")


@dataclass(frozen=True)
class Readiness:
    """``ready``; when not, ``retriable`` says whether to wait (True) or give up (deadline)."""

    ready: bool
    retriable: bool = True
    message: str = ""


def deployment_readiness(
    deployment: dict[str, Any], threshold_percent: int, deadline_seconds: int
) -> Readiness:
    """Flagger's readiness rules for one Deployment (generation, deadline, replicas)."""
    readiness = _rollout_state(deployment, threshold_percent)
    if readiness.ready or not readiness.retriable:
        return readiness
    # Stuck below minimum availability for longer than the Canary's progressDeadlineSeconds: give up.
    for condition in (deployment.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Available" and condition.get("reason") == "MinimumReplicasUnavailable":
            since = _timestamp(condition.get("lastUpdateTime") or condition.get("lastTransitionTime"))
            if condition.get("status") == "False" and since and time.time() - since > deadline_seconds:
                return Readiness(False, False, f"{readiness.message} for more than {deadline_seconds}s")
    return readiness


def _timestamp(text: str | None) -> float | None:
    try:
        return datetime.strptime(text or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _rollout_state(deployment: dict[str, Any], threshold_percent: int) -> Readiness:
    name = (deployment.get("metadata") or {}).get("name", "")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    if generation > status.get("observedGeneration", 0):
        return Readiness(False, True, f"waiting for rollout of {name} (generation not yet observed)")
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            message = condition.get("message", "")
            return Readiness(False, False, f"{name} exceeded its progress deadline: {message}")
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < replicas:
        return Readiness(False, True, f"waiting for rollout of {name}: {updated} of {replicas} updated")
    if status.get("replicas", 0) > updated:
        return Readiness(False, True, f"waiting for rollout of {name}: old replicas pending termination")
    if status.get("availableReplicas", 0) < math.floor(updated * threshold_percent / 100):
        return Readiness(False, True, f"waiting for rollout of {name}: replicas not available yet")
    return Readiness(True)


class CanaryWorkloads:
    """The target, ``-primary`` Deployment and the three Services of one Canary."""

    def __init__(self, cluster: Cluster, canary: Canary) -> None:
        self.cluster = cluster
        self.canary = canary
        self.namespace = canary.metadata.namespace or "default"
        self.target_name = canary.spec.target_ref.name
        self.primary_name = f"{self.target_name}-primary"
        self.service_name = canary.spec.service.name or self.target_name
        if canary.spec.target_ref.kind != "Deployment":
            raise CanaryError(
                f"targetRef.kind {canary.spec.target_ref.kind} is not supported; point it at a Deployment",
                obj=canary.ref,
                field="spec.targetRef.kind",
            )

    # -- reading --------------------------------------------------------------------------------
    def _key(self, name: str) -> ObjectKey:
        return ObjectKey("apps/v1", "Deployment", self.namespace, name)

    def target(self) -> dict[str, Any]:
        obj = self.cluster.get(self._key(self.target_name))
        if obj is None:
            raise CanaryError(
                f"Deployment/{self.namespace}/{self.target_name} not found; apply it before the Canary",
                obj=self.canary.ref,
                field="spec.targetRef.name",
            )
        return obj

    def primary(self) -> dict[str, Any] | None:
        return self.cluster.get(self._key(self.primary_name))

    def target_hash(self) -> str:
        return spec_hash(self.target()["spec"].get("template") or {})

    def selector(self, target: dict[str, Any]) -> tuple[str, str]:
        """The first of Flagger's selector labels found in the target's matchLabels."""
        labels = ((target.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for label in SELECTOR_LABELS:
            if label in labels:
                return label, labels[label]
        raise CanaryError(
            f"Deployment/{self.namespace}/{self.target_name} has none of the selector labels "
            f"{', '.join(SELECTOR_LABELS)} in spec.selector.matchLabels; add e.g. app: {self.target_name}",
            obj=self.canary.ref,
            field="spec.targetRef",
        )

    def readiness(self, which: str) -> Readiness:
        """``which`` is ``primary`` or ``canary`` (the target), with its ready threshold."""
        analysis = self.canary.spec.analysis
        if which == "primary":
            obj, threshold = self.primary(), analysis.primary_ready_threshold if analysis else 100
        else:
            obj, threshold = self.target(), analysis.canary_ready_threshold if analysis else 100
        if obj is None:
            return Readiness(False, True, f"{which} Deployment does not exist yet")
        return deployment_readiness(obj, threshold, self.canary.spec.progress_deadline_seconds)

    # -- writing --------------------------------------------------------------------------------
    def _apply(self, obj: dict[str, Any]) -> None:
        try:
            self.cluster.apply(obj, force=True)
        except KubeError as err:
            raise CanaryError(
                f"cannot apply {ObjectKey.of(obj)}: {err.message}", obj=self.canary.ref
            ) from None

    def ensure_services(self) -> None:
        label, value = self.selector(self.target())
        svc = self.canary.spec.service
        port = {
            "name": svc.port_name,
            "port": svc.port,
            "targetPort": svc.target_port if svc.target_port is not None else svc.port,
            "protocol": "TCP",
        }
        if svc.app_protocol:
            port["appProtocol"] = svc.app_protocol
        for suffix, selects, meta in (
            ("", f"{value}-primary", svc.apex),
            ("-primary", f"{value}-primary", svc.primary),
            ("-canary", value, svc.canary),
        ):
            spec: dict[str, Any] = {"type": "ClusterIP", "selector": {label: selects}, "ports": [port]}
            if svc.headless:
                spec["clusterIP"] = "None"
            self._apply(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": f"{self.service_name}{suffix}",
                        "namespace": self.namespace,
                        "labels": {**(meta.labels if meta else {}), label: f"{self.service_name}{suffix}"},
                        "annotations": dict(meta.annotations) if meta else {},
                    },
                    "spec": spec,
                }
            )

    def _primary_manifest(self, target: dict[str, Any], replicas: int) -> dict[str, Any]:
        label, value = self.selector(target)
        spec = target.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        meta = template.setdefault("metadata", {})
        meta.setdefault("labels", {})[label] = f"{value}-primary"
        # A fresh id forces a rolling update of the primary, as Flagger's flagger-id does.
        meta.setdefault("annotations", {})["flagger-id"] = secrets.token_hex(8)
        labels = {
            k: v
            for k, v in ((target.get("metadata") or {}).get("labels") or {}).items()
            if "toolkit.fluxcd.io" not in k
        }
        primary_spec: dict[str, Any] = {
            "replicas": replicas,
            "selector": {"matchLabels": {label: f"{value}-primary"}},
            "template": template,
        }
        primary_spec.update({k: spec[k] for k in _COPIED_SPEC_FIELDS if k in spec})
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": self.primary_name,
                "namespace": self.namespace,
                "labels": {**labels, label: f"{value}-primary"},
            },
            "spec": primary_spec,
        }

    def ensure_primary(self) -> None:
        """Create ``<target>-primary`` from the target when it is missing."""
        if self.primary() is None:
            target = self.target()
            replicas = (target.get("spec") or {}).get("replicas", 1) or 1
            self._apply(self._primary_manifest(target, replicas))

    def promote(self) -> None:
        """The primary takes the target's pod template (and replicas)."""
        target = self.target()
        primary = self.primary() or {}
        replicas = (target.get("spec") or {}).get("replicas") or (primary.get("spec") or {}).get(
            "replicas", 1
        )
        self._apply(self._primary_manifest(target, replicas))

    def scale(self, which: str, replicas: int) -> None:
        """Set ``spec.replicas`` with a merge patch (other fields keep their owners)."""
        name = self.primary_name if which == "primary" else self.target_name
        key = self._key(name)
        path = self.cluster.resource("apps/v1", "Deployment").path(self.namespace, name)
        try:
            self.cluster.request(
                "PATCH",
                path,
                body={"spec": {"replicas": replicas}},
                content_type="application/merge-patch+json",
                obj=str(key),
            )
        except KubeError as err:
            raise CanaryError(
                f"cannot scale {key} to {replicas}: {err.message}", obj=self.canary.ref
            ) from None

    def canary_replicas(self) -> int:
        """Replicas for scaling the canary up: its own, else the primary's, else 1."""
        own = (self.target().get("spec") or {}).get("replicas") or 0
        if own > 0:
            return int(own)
        primary = (self.primary() or {}).get("spec") or {}
        return int(primary.get("replicas") or 1)
