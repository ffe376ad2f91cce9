"""The HelmRelease lifecycle with the real helm binary against the sandbox API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider import events
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.release import uninstall_release
from airflow_flux_provider.helm.status import load_status
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.record import StatusError
from tests.helm.conftest import helm_release, reconcile

PATCH = """- op: add
  path: /spec/template/metadata/annotations
  value:
    fluxcd.io/automated: "true"
"""


def _history(sandbox: Any, namespace: str, name: str = "web") -> list[tuple[int, str]]:
    out = sandbox.helm("history", name, "-n", namespace, "-o", "json", check=False).stdout
    return [(h["revision"], h["status"]) for h in json.loads(out or "[]")]


def _deployment(cluster: Cluster, namespace: str, name: str = "web-web") -> dict[str, Any]:
    found = cluster.get(ObjectKey("apps/v1", "Deployment", namespace, name))
    assert found is not None
    return found


def test_install_noop_upgrade_and_uninstall(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    spec = {
        "test": {"enable": True},
        "install": {"remediation": {"retries": 3}},
        "upgrade": {"remediation": {"retries": 3, "remediateLastFailure": True}},
        "values": {"message": "inline"},
        "postRenderers": [{"kustomize": {"patches": [{"target": {"kind": "Deployment"}, "patch": PATCH}]}}],
    }
    hr = helm_release(ns, spec)

    first = reconcile(hr, chart_dir, cli, cluster)
    assert first.ready, first.message
    assert first.actions == ["install", "test"]
    assert _history(sandbox, ns) == [(1, "deployed")]
    live = _deployment(cluster, ns)
    assert live["spec"]["template"]["metadata"]["annotations"] == {"fluxcd.io/automated": "true"}
    assert live["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
    assert live["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"] == ns
    reasons = [e.reason for e in emitted]
    assert reasons == ["InstallSucceeded", "TestSucceeded"]
    assert emitted[0].message == f"Helm install succeeded for release {ns}/web.v1 with chart web@1.2.0"
    assert emitted[0].metadata == {"revision": "1.2.0", "app-version": "2.0"}

    again = reconcile(hr, chart_dir, cli, cluster)
    assert again.ready and again.actions == [] and again.reason == "ReconciliationSucceeded"
    assert _history(sandbox, ns) == [(1, "deployed")]

    upgraded = reconcile(helm_release(ns, {**spec, "values": {"replicas": 3}}), chart_dir, cli, cluster)
    assert upgraded.ready and upgraded.actions == ["upgrade", "test"]
    assert _deployment(cluster, ns)["spec"]["replicas"] == 3
    assert _history(sandbox, ns) == [(1, "superseded"), (2, "deployed")]
    status = load_status(cluster, "web", ns)
    assert status.is_ready and status.history[0].version == 2
    assert status.history[0].test_hooks == (("web-smoke", "Succeeded"),)
    stored = status.to_status()
    assert stored["history"][0]["testHooks"] == {"web-smoke": {"phase": "Succeeded"}}  # as helm-controller
    assert stored["observedPostRenderersDigest"].startswith("sha256:")

    assert uninstall_release(hr, cli, cluster)
    assert _history(sandbox, ns) == []
    assert cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-web")) is None
    forgotten = load_status(cluster, "web", ns)  # the HelmRelease's status no longer claims a release
    assert (forgotten.ready, forgotten.reason, forgotten.history) == ("False", "Uninstalled", [])
    assert not uninstall_release(hr, cli, cluster)


def test_dag_values_override_inline_values(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    hr = helm_release(sandbox_namespace, {"values": {"message": "inline", "replicas": 2}})
    outcome = reconcile(hr, chart_dir, cli, cluster, message="from-dag")
    assert outcome.ready, outcome.message
    config = cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "web-config"))
    assert config is not None and config["data"]["message"] == "from-dag"
    assert _deployment(cluster, sandbox_namespace)["spec"]["replicas"] == 2


def test_failed_upgrade_rolls_back_to_the_last_good_revision(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    spec: dict[str, Any] = {"timeout": "4s", "upgrade": {"remediation": {"retries": 1}}}
    assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready

    broken = helm_release(ns, {**spec, "values": {"image": "nginx:fail"}})
    outcome = reconcile(broken, chart_dir, cli, cluster)

    assert not outcome.ready
    assert outcome.reason == "RetriesExceeded"
    assert outcome.actions == ["upgrade-failed", "rollback", "upgrade-failed", "rollback"]
    assert "exceeded maximum retries (1)" in outcome.message
    history = _history(sandbox, ns)
    assert history[-1][1] == "deployed" and [s for _, s in history].count("failed") == 2
    assert _deployment(cluster, ns)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert [e.reason for e in emitted].count("RollbackSucceeded") == 2
    assert any(e.reason == "UpgradeFailed" and e.severity == "error" for e in emitted)

    # the same bad values again: retries stay exhausted, nothing is run
    again = reconcile(broken, chart_dir, cli, cluster)
    assert not again.ready and again.actions == [] and again.reason == "RetriesExceeded"
    # a fix resets the counters and upgrades
    fixed = reconcile(helm_release(ns, {**spec, "values": {"replicas": 2}}), chart_dir, cli, cluster)
    assert fixed.ready and fixed.actions == ["upgrade"]


def test_failed_test_hook_is_remediated(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    spec: dict[str, Any] = {
        "test": {"enable": True, "timeout": "4s"},
        "upgrade": {"remediation": {"remediateLastFailure": True}},
    }
    assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready

    outcome = reconcile(
        helm_release(ns, {**spec, "values": {"testImage": "busybox:fail"}}), chart_dir, cli, cluster
    )

    assert not outcome.ready
    assert outcome.actions == ["upgrade", "test-failed", "rollback"]
    assert _history(sandbox, ns)[-1] == (3, "deployed")
    status = load_status(cluster, "web", ns)
    assert status.upgrade_failures == 1 and status.history[0].action == "rollback"


def test_ignored_test_failure_keeps_the_release_ready(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    spec = {
        "test": {"enable": True, "timeout": "4s", "ignoreFailures": True},
        "values": {"testImage": "busybox:fail"},
    }
    outcome = reconcile(helm_release(sandbox_namespace, spec), chart_dir, cli, cluster)
    assert outcome.ready and outcome.actions == ["install", "test-failed"]


def test_failed_install_is_uninstalled_and_retried(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    spec = {"timeout": "3s", "install": {"remediation": {"retries": 1}}, "values": {"image": "nginx:fail"}}
    outcome = reconcile(helm_release(sandbox_namespace, spec), chart_dir, cli, cluster)
    assert not outcome.ready and outcome.reason == "RetriesExceeded"
    assert outcome.actions == ["install-failed", "uninstall", "install-failed"]
    assert _history(sandbox, sandbox_namespace) == [(1, "failed")]
    assert load_status(cluster, "web", sandbox_namespace).install_failures == 2


def test_upgrade_remediation_by_uninstall(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    remediation = {"retries": 0, "remediateLastFailure": True, "strategy": "uninstall"}
    spec: dict[str, Any] = {"timeout": "3s", "upgrade": {"remediation": remediation}}
    assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready
    outcome = reconcile(
        helm_release(ns, {**spec, "values": {"image": "nginx:fail"}}), chart_dir, cli, cluster
    )
    assert not outcome.ready and outcome.actions == ["upgrade-failed", "uninstall"]
    assert _history(sandbox, ns) == []
    assert cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-web")) is None


def test_a_corrupt_snapshot_names_its_index_and_the_repair(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    hr = helm_release(ns, {})
    assert reconcile(hr, chart_dir, cli, cluster).ready
    patch = json.dumps({"status": {"history": [{**load_status(cluster, "web", ns).history[0].to_status(),
                                                "status": "exploded"}]}})  # fmt: skip
    sandbox.kubectl(
        "patch", "helmreleases", "web", "-n", ns, "--subresource=status", "--type=merge", "-p", patch
    )
    with pytest.raises(StatusError) as err:
        reconcile(hr, chart_dir, cli, cluster)
    message = str(err.value)
    assert "status.history[0]: 'exploded' is not a valid HelmStatus" in message
    assert f"kubectl edit helmrelease web -n {ns} --subresource=status" in message


def _annotate(sandbox: Any, namespace: str, **annotations: str) -> None:
    """What 'flux reconcile hr web --force/--reset' writes on the object."""
    pairs = [f"reconcile.fluxcd.io/{key}={value}" for key, value in annotations.items()]
    sandbox.kubectl("annotate", "--overwrite", "helmrelease", "web", "-n", namespace, *pairs)


def test_reset_at_and_force_at_are_honoured_once_as_helm_controller_does(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    spec = {"timeout": "3s", "install": {"remediation": {"retries": 0}}, "values": {"image": "nginx:fail"}}
    hr = helm_release(ns, spec)
    assert reconcile(hr, chart_dir, cli, cluster).actions == ["install-failed"]
    exhausted = reconcile(hr, chart_dir, cli, cluster)
    assert exhausted.actions == [] and exhausted.reason == "RetriesExceeded"

    _annotate(sandbox, ns, resetAt="t1")  # without a matching requestedAt: recorded, not honoured
    assert reconcile(hr, chart_dir, cli, cluster).actions == []
    _annotate(sandbox, ns, requestedAt="t1")  # the token was handled already
    assert reconcile(hr, chart_dir, cli, cluster).actions == []
    status = load_status(cluster, "web", ns)
    assert status.last_handled_reset_at == "t1" and status.last_handled_reconcile_at == "t1"

    _annotate(sandbox, ns, requestedAt="t2", resetAt="t2")  # flux reconcile hr web --reset
    # the counters are reset, so it acts again: the failed release is upgraded, as helm-controller does
    assert reconcile(hr, chart_dir, cli, cluster).actions == ["upgrade-failed"]
    assert load_status(cluster, "web", ns).last_handled_reset_at == "t2"

    healthy = helm_release(ns, {"timeout": "30s"})
    assert reconcile(healthy, chart_dir, cli, cluster).ready
    assert reconcile(healthy, chart_dir, cli, cluster).actions == []  # in sync
    _annotate(sandbox, ns, requestedAt="t3", forceAt="t3")  # flux reconcile hr web --force
    forced = reconcile(healthy, chart_dir, cli, cluster)
    assert forced.ready and forced.actions == ["upgrade"]
    assert load_status(cluster, "web", ns).last_handled_force_at == "t3"
    assert reconcile(healthy, chart_dir, cli, cluster).actions == []  # once per token
