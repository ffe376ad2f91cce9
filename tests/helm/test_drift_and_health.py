"""Drift detection/correction, and the wait=False + health-check path the deferrable operator uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_flux_provider import events
from airflow_flux_provider.helm.chart import load_chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.release import ReleaseReconciler
from airflow_flux_provider.helm.values import compose_values
from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.helm.conftest import helm_release, reconcile


def test_drift_is_reported_then_corrected(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    warn = helm_release(ns, {"driftDetection": {"mode": "warn"}})
    assert reconcile(warn, chart_dir, cli, cluster).drifted == []
    sandbox.kubectl("scale", "deployment", "web-web", "--replicas", "4", "-n", ns)
    sandbox.kubectl("delete", "configmap", "web-config", "-n", ns)

    warned = reconcile(warn, chart_dir, cli, cluster)
    assert warned.ready and warned.actions == []
    assert (
        sorted(warned.drifted)
        == [
            f"apps/v1/Deployment/{ns}/web-web changed: /spec/replicas",
            f"v1/ConfigMap/{ns}/web-config missing",
        ]
        or len(warned.drifted) == 2
    )
    assert any(e.reason == "DriftDetected" for e in emitted)

    ignoring = helm_release(ns, {"driftDetection": {"mode": "warn", "ignore": [
        {"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}},
        {"paths": [""], "target": {"kind": "ConfigMap"}},
    ]}})  # fmt: skip
    assert reconcile(ignoring, chart_dir, cli, cluster).drifted == []

    fixing = helm_release(ns, {"driftDetection": {"mode": "enabled"}})
    fixed = reconcile(fixing, chart_dir, cli, cluster)
    assert fixed.actions == ["correct-drift"]
    deployment = cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-web"))
    assert deployment is not None and deployment["spec"]["replicas"] == 1
    assert cluster.get(ObjectKey("v1", "ConfigMap", ns, "web-config")) is not None
    assert reconcile(fixing, chart_dir, cli, cluster).drifted == []
    assert (
        len(json.loads(sandbox.helm("history", "web", "-n", ns, "-o", "json").stdout)) == 1
    )  # no new revision


def _reconciler(hr: Any, chart_dir: Path, cli: HelmCli, cluster: Cluster) -> ReleaseReconciler:
    chart = load_chart(chart_dir, obj=hr.ref)
    return ReleaseReconciler(hr, chart, compose_values(hr, cluster), cli, cluster, wait=False)


def test_without_wait_the_caller_health_checks_and_failures_remediate(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    spec: dict[str, Any] = {"upgrade": {"remediation": {"retries": 0, "remediateLastFailure": True}}}
    first = _reconciler(helm_release(ns, spec), chart_dir, cli, cluster).reconcile()
    assert not first.ready and first.reason == "Progressing" and first.actions == ["install"]
    assert ["apps/v1", "Deployment", ns, "web-web"] in first.awaiting_health
    settled = _reconciler(helm_release(ns, spec), chart_dir, cli, cluster).reconcile()
    assert settled.ready and settled.actions == []

    broken = helm_release(ns, {**spec, "values": {"image": "nginx:fail"}})
    pending = _reconciler(broken, chart_dir, cli, cluster).reconcile()
    assert pending.actions == ["upgrade"] and pending.awaiting_health
    unhealthy = _reconciler(broken, chart_dir, cli, cluster)
    unhealthy.mark_unhealthy("Deployment web-web never became ready")
    remediated = _reconciler(broken, chart_dir, cli, cluster).reconcile()
    assert not remediated.ready and remediated.actions == ["rollback"]
    assert remediated.reason == "RetriesExceeded"
    deployment = cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-web"))
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
