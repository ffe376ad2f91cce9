"""Drift detection/correction, and the wait=False + health-check path the deferrable operator uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider import events
from airflow_flux_provider.helm.chart import load_chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.release import ReleaseReconciler
from airflow_flux_provider.helm.values import compose_values
from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.helm.conftest import helm_release, reconcile


def _history(sandbox: Any, namespace: str) -> list[int]:
    return [
        h["revision"]
        for h in json.loads(sandbox.helm("history", "web", "-n", namespace, "-o", "json").stdout)
    ]


def test_drift_on_chart_fields_is_corrected_and_other_fields_are_kept(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    """Issue 23: kubectl changes a field the chart sets and one it does not set; the next reconcile
    takes the first back, keeps the second, is Ready and names what drifted."""
    ns = sandbox_namespace
    hr = helm_release(ns, {"driftDetection": {"mode": "enabled"}})
    assert reconcile(hr, chart_dir, cli, cluster).drifted == []
    sandbox.kubectl("patch", "configmap", "web-config", "-n", ns, "--type", "merge",
                    "-p", '{"data":{"message":"patched","extra":"kept"}}')  # fmt: skip
    sandbox.kubectl("scale", "deployment", "web-web", "--replicas", "4", "-n", ns)

    fixed = reconcile(hr, chart_dir, cli, cluster)
    assert fixed.ready, fixed.message
    assert fixed.actions == ["correct-drift"]
    assert sorted(fixed.drifted) == [
        f"ConfigMap/{ns}/web-config changed: /data/message",
        f"Deployment/{ns}/web-web changed: /spec/replicas",
    ]
    config = cluster.get(ObjectKey("v1", "ConfigMap", ns, "web-config"))
    assert config is not None and config["data"] == {"message": "hello", "extra": "kept"}
    deployment = cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-web"))
    assert deployment is not None and deployment["spec"]["replicas"] == 1
    detected = next(e for e in emitted if e.reason == "DriftDetected")
    assert f"ConfigMap/{ns}/web-config changed: /data/message" in detected.message
    assert any(e.reason == "DriftCorrected" for e in emitted)
    assert _history(sandbox, ns) == [1]  # corrected in place, no new helm revision

    again = reconcile(hr, chart_dir, cli, cluster)
    assert again.ready and again.drifted == [] and again.actions == []
    # kubectl owns a chart field again; the upgrade takes it back instead of failing on the conflict
    sandbox.kubectl("patch", "configmap", "web-config", "-n", ns, "--type", "merge",
                    "-p", '{"data":{"message":"patched"}}')  # fmt: skip
    upgraded = reconcile(helm_release(ns, {"values": {"message": "v2"}}), chart_dir, cli, cluster)
    assert upgraded.ready and upgraded.actions == ["upgrade"], upgraded.message
    config = cluster.get(ObjectKey("v1", "ConfigMap", ns, "web-config"))
    assert config is not None and config["data"] == {"message": "v2", "extra": "kept"}


def test_removed_objects_are_recreated_and_warn_mode_only_reports(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    warn = helm_release(ns, {"driftDetection": {"mode": "warn"}})
    reconcile(warn, chart_dir, cli, cluster)
    sandbox.kubectl("delete", "configmap", "web-config", "-n", ns)
    warned = reconcile(warn, chart_dir, cli, cluster)
    assert warned.ready and warned.actions == [] and warned.drifted == [f"ConfigMap/{ns}/web-config removed"]
    assert cluster.get(ObjectKey("v1", "ConfigMap", ns, "web-config")) is None

    fixed = reconcile(helm_release(ns, {"driftDetection": {"mode": "enabled"}}), chart_dir, cli, cluster)
    assert fixed.actions == ["correct-drift"] and fixed.drifted == warned.drifted
    recreated = cluster.get(ObjectKey("v1", "ConfigMap", ns, "web-config"))
    assert recreated is not None and recreated["data"] == {"message": "hello"}
    assert recreated["metadata"]["annotations"]["meta.helm.sh/release-name"] == "web"

    # an object opted out in the cluster is left alone, as one opted out in the chart
    sandbox.kubectl(
        "annotate", "deployment", "web-web", "-n", ns, "helm.toolkit.fluxcd.io/driftDetection=disabled"
    )
    sandbox.kubectl("scale", "deployment", "web-web", "--replicas", "3", "-n", ns)
    assert reconcile(warn, chart_dir, cli, cluster).drifted == []


QUANTITIES = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-sized
  creationTimestamp: null
spec:
  replicas: 1
  selector:
    matchLabels: {app: sized}
  template:
    metadata:
      creationTimestamp: null
      labels: {app: sized}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        env:
        - {name: MODE, value: chart}
        resources:
          requests: {cpu: 0.5, memory: 1024Mi}
          limits: {cpu: 1000m, memory: "2048Mi"}
"""


def test_what_the_server_stores_differently_or_others_add_is_not_drift(
    sandbox: Any, sandbox_namespace: str, tmp_path: Path, cli: HelmCli, cluster: Cluster
) -> None:
    """Quantities in another form, creationTimestamp: null and list entries another manager added."""
    chart = tmp_path / "sized"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: sized\nversion: 0.1.0\n")
    (chart / "templates" / "deployment.yaml").write_text(QUANTITIES)
    ns = sandbox_namespace
    hr = helm_release(ns, {"driftDetection": {"mode": "warn"}})
    assert reconcile(hr, chart, cli, cluster).ready
    live = cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-sized"))
    assert live is not None
    resources = live["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert reconcile(hr, chart, cli, cluster).drifted == []

    sandbox.kubectl("set", "env", "deployment/web-sized", "-n", ns, "INJECTED=by-a-webhook")
    sandbox.kubectl("label", "deployment", "web-sized", "-n", ns, "team=data")
    assert reconcile(hr, chart, cli, cluster).drifted == []
    sandbox.kubectl("set", "env", "deployment/web-sized", "-n", ns, "MODE=hand-edited")
    assert reconcile(hr, chart, cli, cluster).drifted == [
        f"Deployment/{ns}/web-sized changed: /spec/template/spec/containers/0/env/0/value"
    ]


@pytest.mark.parametrize(
    ("target", "ignored"),
    [
        ({"group": "apps", "version": "v1", "kind": "Deployment"}, True),
        ({"group": "batch"}, False),
        ({"version": "v1beta1"}, False),
        ({"kind": "Deploy.*", "name": "web-w.b"}, True),
        ({"namespace": "other"}, False),
        ({"labelSelector": "app.kubernetes.io/managed-by=Helm,helm.toolkit.fluxcd.io/name in (web)"}, True),
        ({"labelSelector": "!helm.toolkit.fluxcd.io/name"}, False),
        ({"annotationSelector": "meta.helm.sh/release-name=web"}, True),
        ({"annotationSelector": "meta.helm.sh/release-name notin (web)"}, False),
    ],
)
def test_ignore_rules_honour_the_whole_target(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    target: dict[str, str],
    ignored: bool,
) -> None:
    ns = sandbox_namespace
    hr = helm_release(
        ns, {"driftDetection": {"mode": "warn", "ignore": [{"paths": ["/spec/replicas"], "target": target}]}}
    )
    reconcile(hr, chart_dir, cli, cluster)
    sandbox.kubectl("scale", "deployment", "web-web", "--replicas", "3", "-n", ns)
    expected = [] if ignored else [f"Deployment/{ns}/web-web changed: /spec/replicas"]
    assert reconcile(hr, chart_dir, cli, cluster).drifted == expected


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({"paths": ["spec/replicas"]}, "paths[0]", "is not a JSON pointer; start it with '/'"),
        ({"target": {"name": "web-("}}, "target.name", "not a valid regular expression"),
        ({"target": {"labelSelector": "app in (a"}}, "target.labelSelector", "expected ')'"),
        ({"target": {"labelSelector": "-bad-=x"}}, "target.labelSelector", "invalid key '-bad-'"),
        ({"target": {"annotationSelector": "a>b"}}, "target.annotationSelector", "must be an integer"),
    ],
)
def test_bad_ignore_rules_name_the_field(
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    rule: dict[str, Any],
    field: str,
    message: str,
) -> None:
    ns = sandbox_namespace
    ignore = [{"paths": ["/x"], **rule}]
    failed = reconcile(
        helm_release(ns, {"driftDetection": {"ignore": ignore, "mode": "warn"}}), chart_dir, cli, cluster
    )
    assert not failed.ready
    assert f"HelmRelease/{ns}/web field spec.driftDetection.ignore[0].{field}: " in failed.message
    assert message in failed.message


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
