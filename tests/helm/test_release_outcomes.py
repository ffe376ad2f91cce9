"""What a reconcile ends with when helm fails: the outcome, the exact events and their reasons, the
counters and history Flux writes, and the remediation that follows (issue 26).

Failures come from the sandbox's fault injection (helm's server-side apply PATCHes a ConfigMap,
the API server refuses), so they are immediate instead of waiting for a ``--wait`` timeout.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider import events
from airflow_flux_provider.helm.chart import load_chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import Reason, ReleaseError
from airflow_flux_provider.helm.release import ReleaseOutcome, ReleaseReconciler, uninstall_release
from airflow_flux_provider.helm.state import Action, Step
from airflow_flux_provider.helm.status import load_status
from airflow_flux_provider.helm.values import compose_values
from airflow_flux_provider.kube import Cluster
from tests.helm.conftest import helm_release, reconcile

REFUSED = "policy: configmaps are off limits"  # a colon, as helm and API errors often carry
FORBIDDEN = f"forbidden: {REFUSED}; grant the identity this verb in an RBAC Role"  # how kube/ words a 403


def _refuse(sandbox: Any, namespace: str, verb: str = "patch", **fault: Any) -> None:
    """The API server refuses ``verb`` on the namespace's ConfigMaps (helm's apply is a PATCH)."""
    sandbox.faults.add(
        verb=verb, resource="configmaps", namespace=namespace, code=403, message=REFUSED, **fault
    )


def _said(emitted: list[events.Event]) -> list[tuple[str, str, str]]:
    return [(e.severity, e.reason, e.message) for e in emitted]


@pytest.fixture(scope="session")
def next_chart(tmp_path_factory: pytest.TempPathFactory, chart_dir: Path) -> Path:
    """The web chart as version 1.3.0 without an appVersion."""
    root = tmp_path_factory.mktemp("helm-next") / "web"
    shutil.copytree(chart_dir, root)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.3.0\n")
    return root


def test_a_failed_install_out_of_retries_names_the_field_and_the_failure(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    next_chart: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    _refuse(sandbox, ns)
    hr = helm_release(ns, {})
    failed = reconcile(hr, chart_dir, cli, cluster)

    assert (failed.ready, failed.reason, failed.actions, failed.revision) == (
        False, Reason.RETRIES_EXCEEDED, ["install-failed"], 1,
    )  # fmt: skip
    assert failed.message == (
        f"HelmRelease/{ns}/web: cannot install release {ns}/web: exceeded maximum retries (0); fix the "
        "chart or values (which resets the count) or raise spec.install.remediation.retries; "
        f"last failure: Helm install failed: INSTALLATION FAILED: {REFUSED}"
    )
    assert failed.count(Action.INSTALL) == 1 and failed.count(Action.UPGRADE) == 0
    assert _said(emitted) == [
        (
            "error",
            "InstallFailed",
            f"Helm install failed for release {ns}/web with chart web@1.2.0: INSTALLATION FAILED: {REFUSED}",
        )
    ]
    status = load_status(cluster, "web", ns)
    assert (status.failures, status.install_failures, status.upgrade_failures) == (1, 1, 0)
    assert (status.ready, status.reason, status.message) == ("False", "RetriesExceeded", failed.message)
    assert status.last_attempted_release_action == "install" and status.last_applied_revision == ""
    assert status.observed_post_renderers_digest == ""
    snap = status.history[0].to_status()
    assert (snap["version"], snap["status"], snap["action"], snap["chartVersion"]) == (
        1,
        "failed",
        "install",
        "1.2.0",
    )
    assert "testHooks" not in snap and "healthFailed" not in snap

    emitted.clear()
    again = reconcile(hr, chart_dir, cli, cluster)  # nothing new to try: no helm action, no event
    assert (again.reason, again.actions, emitted) == (Reason.RETRIES_EXCEEDED, [], [])
    assert again.message.endswith("raise spec.install.remediation.retries")  # no failure this time

    sandbox.faults.clear()
    upgraded = reconcile(hr, next_chart, cli, cluster)  # a new chart version resets the counters
    assert (upgraded.ready, upgraded.reason, upgraded.actions) == (
        True,
        Reason.UPGRADE_SUCCEEDED,
        ["upgrade"],
    )
    assert upgraded.message == f"Helm release {ns}/web.v2 is in sync with chart web@1.3.0"
    assert emitted[-1].metadata == {"revision": "1.3.0"}  # no appVersion in this chart
    status = load_status(cluster, "web", ns)
    assert (status.failures, status.install_failures, status.upgrade_failures) == (0, 0, 0)
    assert (status.last_applied_revision, status.last_attempted_revision) == ("1.3.0", "1.3.0")
    assert status.observed_post_renderers_digest.startswith("sha256:")


def test_a_failed_upgrade_is_rolled_back_then_retried(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    spec: dict[str, Any] = {"upgrade": {"remediation": {"retries": 1}}}
    assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready
    first = load_status(cluster, "web", ns).history[0]
    emitted.clear()
    _refuse(sandbox, ns, times=1)

    started = time.monotonic()
    outcome = reconcile(helm_release(ns, {**spec, "values": {"message": "v2"}}), chart_dir, cli, cluster)
    took = time.monotonic() - started

    assert (outcome.ready, outcome.reason, outcome.revision) == (True, Reason.UPGRADE_SUCCEEDED, 4)
    assert 0 < outcome.duration_seconds <= took  # this reconcile's span, in milliseconds for XCom
    assert outcome.duration_seconds == round(outcome.duration_seconds, 3)
    assert outcome.actions == ["upgrade-failed", "rollback", "upgrade"]
    assert outcome.steps == [Step(Action.UPGRADE, failed=True), Step(Action.ROLLBACK), Step(Action.UPGRADE)]
    assert all(e.metadata == {"revision": "1.2.0", "app-version": "2.0"} for e in emitted)
    assert _said(emitted) == [
        ("error", "UpgradeFailed",
         f"Helm upgrade failed for release {ns}/web with chart web@1.2.0: UPGRADE FAILED: {REFUSED}"),
        ("info", "RollbackSucceeded",
         f"Helm rollback to previous release {ns}/web.v1 with chart web-1.2.0 succeeded"),
        ("info", "UpgradeSucceeded", f"Helm upgrade succeeded for release {ns}/web.v4 with chart web@1.2.0"),
    ]  # fmt: skip
    status = load_status(cluster, "web", ns)
    assert (status.failures, status.install_failures, status.upgrade_failures) == (1, 0, 1)
    assert [(s.version, s.action) for s in status.history] == [
        (4, "upgrade"),
        (3, "rollback"),
        (2, "upgrade"),
        (1, "install"),
    ]
    assert (status.history[0].status, status.history[2].status) == ("deployed", "failed")
    rolled_back = status.history[1]
    assert rolled_back.config_digest == first.config_digest  # what v1 was made of
    assert rolled_back.test_hooks is None and not rolled_back.test_failed
    assert status.history[0].config_digest == outcome.config_digest != first.config_digest


def test_a_failed_rollback_is_reported_with_the_upgrade_failure(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    spec: dict[str, Any] = {"upgrade": {"remediation": {"retries": 1}}}
    assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready
    emitted.clear()
    _refuse(sandbox, ns)

    outcome = reconcile(helm_release(ns, {**spec, "values": {"message": "v2"}}), chart_dir, cli, cluster)

    rollback = f"Helm rollback to previous release {ns}/web.v1 with chart web-1.2.0 failed"
    assert (outcome.ready, outcome.reason, outcome.actions) == (
        False, Reason.RECONCILIATION_FAILED, ["upgrade-failed", "rollback-failed"],
    )  # fmt: skip
    assert outcome.message == (
        f"HelmRelease/{ns}/web: {rollback}: Helm rollback failed: {REFUSED}; "
        f"last failure: Helm upgrade failed: UPGRADE FAILED: {REFUSED}"
    )
    assert [(e.severity, e.reason) for e in emitted] == [
        ("error", "UpgradeFailed"),
        ("error", "RollbackFailed"),
    ]
    assert emitted[-1].message == f"{rollback}: {REFUSED}"


def test_an_install_retried_as_upgrade_has_no_rollback_target(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    _refuse(sandbox, ns)
    spec = {
        "install": {"strategy": {"name": "RetryOnFailure"}},
        "upgrade": {"remediation": {"remediateLastFailure": True}},
    }
    outcome = reconcile(helm_release(ns, spec), chart_dir, cli, cluster)
    assert (outcome.reason, outcome.actions) == (
        Reason.MISSING_ROLLBACK_TARGET,
        ["install-failed", "upgrade-failed"],
    )
    assert outcome.message.startswith(
        f"HelmRelease/{ns}/web: cannot roll back release {ns}/web: missing rollback target (no earlier "
        "successful revision); set spec.upgrade.remediation.strategy: uninstall or fix the release; "
        "last failure: "
    )
    status = load_status(cluster, "web", ns)
    assert (status.failures, status.install_failures, status.upgrade_failures) == (2, 1, 1)


def test_a_failed_uninstall_leaves_the_release_and_says_so(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    hr = helm_release(ns, {})
    assert reconcile(hr, chart_dir, cli, cluster).ready
    emitted.clear()
    _refuse(sandbox, ns, verb="delete")
    with pytest.raises(ReleaseError) as err:
        uninstall_release(hr, cli, cluster)
    where = f"Helm uninstall for release {ns}/web.v1"
    assert str(err.value).startswith(f"HelmRelease/{ns}/web: {where} failed: Helm uninstall failed: ")
    assert _said(emitted) == [("error", "UninstallFailed", f"{where} failed: failed to delete release: web")]

    sandbox.faults.clear()
    emitted.clear()
    assert uninstall_release(hr, cli, cluster)
    assert _said(emitted) == [("info", "UninstallSucceeded", f"{where} succeeded")]


def test_a_moved_storage_namespace_uninstalls_the_old_release_first(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    storage = f"{ns[:50]}-s"
    sandbox.kubectl("create", "namespace", storage)
    try:
        assert reconcile(helm_release(ns, {}), chart_dir, cli, cluster).ready
        emitted.clear()
        moved = reconcile(helm_release(ns, {"storageNamespace": storage}), chart_dir, cli, cluster)
        assert (moved.ready, moved.actions, moved.reason) == (
            True,
            ["uninstall", "install"],
            Reason.INSTALL_SUCCEEDED,
        )
        assert _said(emitted)[0] == (
            "info",
            "UninstallSucceeded",
            f"Helm uninstall for release {ns}/web succeeded",
        )
        status = load_status(cluster, "web", ns)
        assert (status.storage_namespace, status.release_name) == (storage, "web")
        assert [(s.version, s.namespace) for s in status.history] == [(1, storage)]
    finally:
        sandbox.kubectl("delete", "namespace", storage, "--wait=false", check=False)


def test_a_release_that_never_settles_stops_after_24_actions(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    _refuse(sandbox, ns)
    outcome = reconcile(
        helm_release(ns, {"install": {"remediation": {"retries": -1}}}), chart_dir, cli, cluster
    )
    assert outcome.actions == ["install-failed", "uninstall"] * 12
    assert outcome.message == (
        f"HelmRelease/{ns}/web: release {ns}/web did not settle after 24 actions; it will be retried on the "
        f"next run; last failure: Helm install failed: INSTALLATION FAILED: {REFUSED}"
    )


def test_the_outcome_as_xcom() -> None:
    outcome = ReleaseOutcome(
        ready=True, reason=Reason.UPGRADE_SUCCEEDED, message="in sync", release_name="web", namespace="apps",
        revision=3, chart_name="web", chart_version="1.2.0", config_digest="sha256:ab",
        steps=[Step(Action.UPGRADE, failed=True), Step(Action.ROLLBACK), Step(Action.UPGRADE)],
        drifted=["ConfigMap/apps/web-config removed"], awaiting_health=[["v1", "ConfigMap", "apps", "c"]],
        duration_seconds=1.5,
    )  # fmt: skip
    assert outcome.to_xcom() == {
        "ready": True, "reason": "UpgradeSucceeded", "message": "in sync", "release": "apps/web",
        "revision": 3, "chart": "web@1.2.0", "config_digest": "sha256:ab",
        "actions": ["upgrade-failed", "rollback", "upgrade"],
        "drifted": ["ConfigMap/apps/web-config removed"], "duration_seconds": 1.5,
        "awaiting_health": [["v1", "ConfigMap", "apps", "c"]],
    }  # fmt: skip
    assert (outcome.count(Action.UPGRADE), outcome.count(Action.ROLLBACK), outcome.count(Action.TEST)) == (
        2,
        1,
        0,
    )


def test_drift_that_cannot_be_read_or_written_fails_the_reconcile(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    hr = helm_release(ns, {"driftDetection": {"mode": "enabled"}})
    assert reconcile(hr, chart_dir, cli, cluster).ready
    _refuse(sandbox, ns, verb="get")
    unreadable = reconcile(hr, chart_dir, cli, cluster)
    assert (unreadable.ready, unreadable.reason, unreadable.actions) == (
        False,
        Reason.RECONCILIATION_FAILED,
        [],
    )
    assert unreadable.message == (
        f"HelmRelease/{ns}/web: unable to determine cluster state: ConfigMap/{ns}/web-config: {FORBIDDEN}"
    )

    sandbox.faults.clear()
    sandbox.kubectl("delete", "configmap", "web-config", "-n", ns)
    sandbox.kubectl("delete", "deployment", "web-web", "-n", ns)
    _refuse(sandbox, ns)
    sandbox.faults.add(verb="patch", resource="deployments", namespace=ns, code=403, message=REFUSED)
    emitted.clear()
    failed = reconcile(hr, chart_dir, cli, cluster)
    assert (failed.ready, failed.reason, failed.actions) == (
        False, Reason.DRIFT_CORRECTION_FAILED, ["correct-drift-failed"],
    )  # fmt: skip
    removed = [f"ConfigMap/{ns}/web-config removed", f"Deployment/{ns}/web-web removed"]
    assert failed.drifted == removed
    correction = (
        f"Failed to correct cluster state of release {ns}/web:\nConfigMap/{ns}/web-config: {FORBIDDEN}\n"
        f"Deployment/{ns}/web-web: {FORBIDDEN}"
    )
    assert _said(emitted) == [
        ("error", "DriftDetected",
         f"Cluster state of release {ns}/web.v1 has drifted from the desired state:\n" + "\n".join(removed)),
        ("error", "DriftCorrectionFailed", correction),
    ]  # fmt: skip
    assert failed.message == f"HelmRelease/{ns}/web: {correction}"

    sandbox.faults.clear()
    emitted.clear()
    fixed = reconcile(hr, chart_dir, cli, cluster)
    assert (fixed.ready, fixed.actions) == (True, ["correct-drift"])
    assert _said(emitted)[-1] == (
        "info",
        "DriftCorrected",
        f"Cluster state of release {ns}/web has been corrected:\n" + "\n".join(removed),
    )


def _reconciler(hr: Any, chart: Path, cli: HelmCli, cluster: Cluster, **options: Any) -> ReleaseReconciler:
    loaded = load_chart(str(chart), obj=hr.ref)
    return ReleaseReconciler(hr, loaded, compose_values(hr, cluster), cli, cluster, **options)


def test_without_wait_the_release_waits_for_the_callers_health_check(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster, emitted: list[events.Event]
) -> None:
    ns = sandbox_namespace
    hr = helm_release(ns, {"install": {"remediation": {"retries": 1}}})
    untouched = _reconciler(hr, chart_dir, cli, cluster, wait=False)
    untouched.mark_unhealthy("nothing was released")  # no revision of ours: nothing to blame
    assert emitted == []

    pending = _reconciler(hr, chart_dir, cli, cluster, wait=False).reconcile()
    assert (pending.ready, pending.reason, pending.actions) == (False, Reason.PROGRESSING, ["install"])
    assert pending.message == f"waiting for 2 objects of {ns}/web"
    assert sorted(pending.awaiting_health) == [
        ["apps/v1", "Deployment", ns, "web-web"],
        ["v1", "ConfigMap", ns, "web-config"],
    ]
    assert load_status(cluster, "web", ns).ready == "Unknown"

    emitted.clear()
    resumed = _reconciler(hr, chart_dir, cli, cluster, wait=False)  # as the operator after its health wait
    resumed.mark_unhealthy("Deployment web-web never became ready")
    assert _said(emitted) == [
        ("error", "InstallFailed",
         f"Helm install failed for release {ns}/web with chart web@1.2.0: "
         "Deployment web-web never became ready"),
    ]  # fmt: skip
    status = load_status(cluster, "web", ns)
    assert (status.failures, status.install_failures, status.upgrade_failures) == (1, 1, 0)
    assert status.history[0].to_status()["healthFailed"] is True
    retried = resumed.reconcile()  # the failed install is remediated and installed again
    assert (retried.actions, retried.message) == (
        ["install-failed", "uninstall", "install"], f"waiting for 2 objects of {ns}/web",
    )  # fmt: skip


def test_force_and_reset_given_by_the_caller(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    hr = helm_release(ns, {})
    assert reconcile(hr, chart_dir, cli, cluster).ready
    forced = _reconciler(hr, chart_dir, cli, cluster, force=True).reconcile()
    assert (forced.ready, forced.actions, forced.revision) == (True, ["upgrade"], 2)

    _refuse(sandbox, ns)
    broken = helm_release(ns, {"values": {"message": "b"}})
    assert _reconciler(broken, chart_dir, cli, cluster).reconcile().actions == ["upgrade-failed"]
    exhausted = _reconciler(broken, chart_dir, cli, cluster).reconcile()
    assert (exhausted.actions, exhausted.reason) == ([], Reason.RETRIES_EXCEEDED)
    assert exhausted.message == (
        f"HelmRelease/{ns}/web: cannot upgrade release {ns}/web: exceeded maximum retries (0); fix the chart "
        "or values (which resets the count) or raise spec.upgrade.remediation.retries"
    )
    sandbox.faults.clear()
    reset = _reconciler(broken, chart_dir, cli, cluster, reset=True).reconcile()
    assert (reset.ready, reset.actions) == (True, ["upgrade"])
