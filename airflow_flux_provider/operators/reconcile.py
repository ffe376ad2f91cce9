"""``KustomizationReconcileOperator``: the apply half of a Flux Kustomization as one Airflow task.

It applies the manifests a render task produced, prunes what left the inventory, and then
defers to :class:`~airflow_flux_provider.triggers.health.HealthCheckTrigger` while the
objects roll out, so waiting holds no worker slot. The outcome is written to the status
record in the cluster, emitted as Flux-style events and recorded as an MLflow run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml
from airflow.sdk import Context

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kube import ObjectKey
from airflow_flux_provider.kube.inventory import Inventory
from airflow_flux_provider.kube.reconcile import (
    KustomizationTarget,
    ReconcileError,
    apply_and_prune,
    check_dependencies,
    finish,
)
from airflow_flux_provider.links.flux_view import FluxViewLink
from airflow_flux_provider.links.mlflow import MlflowRunLink
from airflow_flux_provider.operators.deploy import ClusterDeployOperator
from airflow_flux_provider.operators.tracking import record_deployment
from airflow_flux_provider.tracking import DeploymentRun

if TYPE_CHECKING:
    from airflow_flux_provider.triggers.health import HealthEvent


def rendered_objects(rendered: Any, *, task: str) -> list[dict[str, Any]]:
    """Objects from a render task's XCom (``{"path": …}``) or from YAML text."""
    if isinstance(rendered, dict) and rendered.get("path"):
        from airflow_flux_provider.operators.kustomize import read_render

        text = read_render(rendered)
    elif isinstance(rendered, str):
        text = rendered
    else:
        raise FluxError(
            "rendered must be the XCom of a render task (with 'path') or multi-document YAML text",
            obj=f"task '{task}'",
            field="rendered",
        )
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as err:
        raise FluxError(f"rendered manifests are not valid YAML: {err}", obj=f"task '{task}'") from None


def change_lines(changes: list[dict[str, Any]]) -> str:
    """``Kind/namespace/name action`` per XCom change entry, then the fields that drifted, if any."""
    return "\n".join(
        f"{c['object']} {c['action']}" + (f" ({', '.join(c['fields'])})" if c.get("fields") else "")
        for c in changes
    )


class KustomizationReconcileOperator(ClusterDeployOperator):
    """Apply + prune + health-check one Kustomization; XCom: the change set and inventory."""

    flux_kind = "Kustomization"
    flux_api_version = "kustomize.toolkit.fluxcd.io/v1"
    template_fields: Sequence[str] = (
        *ClusterDeployOperator.template_fields,
        "rendered",
        "revision",
        "variables",
        "depends_on_revisions",
    )
    operator_extra_links = (FluxViewLink(), MlflowRunLink())

    def __init__(
        self,
        *,
        rendered: Any,
        revision: Any = "",
        variables: dict[str, str] | None = None,
        depends_on_revisions: dict[str, Any] | None = None,
        allow_empty_prune: bool = False,
        **kwargs: Any,
    ) -> None:
        manifest = kwargs.get("manifest")
        spec = kwargs.get("spec") or (manifest.get("spec") if isinstance(manifest, dict) else None)
        if isinstance(spec, dict) and spec.get("retryInterval") and "retry_delay" not in kwargs:
            from airflow_flux_provider.specs import parse_duration

            kwargs["retry_delay"] = parse_duration(spec["retryInterval"])  # Flux's retryInterval
            kwargs.setdefault("retries", 3)
        super().__init__(**kwargs)
        self.rendered = rendered
        self.revision = revision
        self.variables = variables or {}
        self.depends_on_revisions = depends_on_revisions or {}
        self.allow_empty_prune = allow_empty_prune

    # -- helpers --------------------------------------------------------------------------------
    def _target(self, ks: Any) -> KustomizationTarget:
        return KustomizationTarget.of(ks, allow_empty_prune=self.allow_empty_prune)

    @staticmethod
    def _health_keys(ks: Any, inventory: list[dict[str, str]]) -> list[ObjectKey]:
        if ks.spec.wait:
            return Inventory.from_entries(inventory).object_keys()
        return [
            ObjectKey(h.api_version or "apps/v1", h.kind, h.namespace or ks.metadata.namespace, h.name)
            for h in ks.spec.health_checks
        ]

    # -- execution ------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        ks = self.flux_object()
        self.point_view(context, ks)
        cluster, records = self._cluster(ks), self._controller()
        self.skip_if_suspended(ks, records)
        target = self._target(ks)
        revision = self.revision or "unknown"
        check_dependencies(records, target, self._dependencies(ks))
        objects = rendered_objects(self.rendered, task=self.task_id)
        digest = self.rendered.get("digest", "") if isinstance(self.rendered, dict) else ""
        result = apply_and_prune(cluster, target, objects, revision=revision, digest=digest, records=records)
        outcome = result.to_xcom()
        changes = result.changes
        self.log.info("%s change set: %s\n%s", ks.ref, changes.counts() or "empty", changes.summary())
        if outcome["drifted"]:
            self.log.warning("%s drift reverted:\n%s", ks.ref, change_lines(outcome["drifted"]))
        keys = [] if result.skipped else self._health_keys(ks, outcome["inventory"])
        if not keys:
            return self._complete(context, ks, outcome, None, time.time())
        started = time.time() - outcome["duration_seconds"]
        error = self._await_health(
            ks,
            cluster,
            keys,
            timeout=ks.spec.timeout.total_seconds(),
            state={"outcome": outcome, "started": started},
        )
        return self._complete(context, ks, outcome, error, started)

    def execute_complete(self, context: Context, event: HealthEvent | None = None) -> dict[str, Any]:
        error, state = self.resumed(event)
        if "outcome" not in state:
            raise ReconcileError(
                "the health check event carries no apply outcome; retry the task", obj=self.task_id
            )
        return self._complete(context, self.flux_object(), state["outcome"], error, state["started"])

    def _dependencies(self, ks: Any) -> dict[str, str]:
        deps = {}
        for dep in ks.spec.depends_on:
            ref = f"{dep.namespace or ks.metadata.namespace}/{dep.name}"
            deps[ref] = self.depends_on_revisions.get(dep.name, self.depends_on_revisions.get(ref, ""))
        return deps

    def _complete(
        self, context: Context, ks: Any, outcome: dict[str, Any], error: str | None, started: float
    ) -> dict[str, Any]:
        duration = time.time() - started
        record = finish(
            self._controller(),
            self._target(ks),
            revision=outcome["revision"],
            health=None,
            error=error,
            duration=duration,
        )
        record_deployment(
            context,
            DeploymentRun(
                kind="Kustomization",
                name=ks.metadata.name,
                namespace=ks.metadata.namespace,
                cluster=self.cluster_name,
                params={**self.variables, "revision": outcome["revision"], "path": ks.spec.path},
                metrics={
                    "duration_seconds": duration,
                    "objects_applied": outcome["created"] + outcome["configured"],
                    "objects_unchanged": outcome["unchanged"],
                    "objects_pruned": outcome["deleted"],
                    "objects_drifted": len(outcome["drifted"]),
                    "healthy": 0.0 if error else 1.0,
                },
                tags={"flux.revision": outcome["revision"]},
                artifacts={"changes.txt": change_lines(outcome["changes"])},
                status="FAILED" if error else "FINISHED",
            ),
            self.mlflow_conn_id,
        )
        if error:
            raise ReconcileError(error, obj=ks.ref)
        self.log.info("%s Ready: %s", ks.ref, record.message)  # Flux's "Applied revision: <rev>"
        return {**outcome, "ready": True, "duration_seconds": round(duration, 3)}
