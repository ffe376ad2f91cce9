"""Release identity: Flux's naming rules, target vs storage namespace, uninstall keepHistory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.naming import release_name, storage_namespace, target_namespace
from airflow_flux_provider.helm.release import uninstall_release
from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.helm.conftest import helm_release, reconcile


def test_release_names_follow_flux() -> None:
    assert release_name(helm_release("apps", {})) == "web"
    assert release_name(helm_release("apps", {"targetNamespace": "prod"})) == "prod-web"
    assert release_name(helm_release("apps", {"targetNamespace": "prod", "releaseName": "mine"})) == "mine"
    long = helm_release(
        "apps", {"targetNamespace": "a-very-lengthy-target-namespace"}, name="with-a-nice-object-name"
    )
    # Flux's docs print a 55-character example; its code keeps 40 characters + "-" + 12 hex = 53
    assert release_name(long) == "a-very-lengthy-target-namespace-with-a-n-97af5d7f41f3"
    split = helm_release("apps", {"targetNamespace": "prod", "storageNamespace": "helm"})
    assert (target_namespace(split), storage_namespace(split)) == ("prod", "helm")


def test_target_namespace_with_storage_in_the_release_namespace(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    target = f"{sandbox_namespace[:40]}-apps"  # release "<target>-web" stays under 53 characters
    spec = {
        "targetNamespace": target,
        "install": {"createNamespace": True},
        "uninstall": {"keepHistory": True},
    }
    hr = helm_release(sandbox_namespace, spec)
    outcome = reconcile(hr, chart_dir, cli, cluster)
    assert outcome.ready, outcome.message
    assert outcome.release_name == f"{target}-web"
    # helm stores the release in the HelmRelease's namespace; the objects land in the target namespace
    listed = json.loads(sandbox.helm("list", "-n", sandbox_namespace, "-o", "json").stdout)
    assert [r["name"] for r in listed] == [f"{target}-web"]
    assert cluster.get(ObjectKey("v1", "ConfigMap", target, f"{target}-web-config")) is not None
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, f"{target}-web-config")) is None

    assert uninstall_release(hr, cli, cluster)
    history = json.loads(
        sandbox.helm("history", f"{target}-web", "-n", sandbox_namespace, "-o", "json").stdout
    )
    assert [h["status"] for h in history] == ["uninstalled"]  # keepHistory
    assert cluster.get(ObjectKey("v1", "ConfigMap", target, f"{target}-web-config")) is None
    # reinstalling over a kept history needs helm's --replace, which the state machine adds
    assert reconcile(hr, chart_dir, cli, cluster).actions == ["install"]
    sandbox.kubectl("delete", "namespace", target, "--wait=false", check=False)


def test_renamed_release_replaces_the_old_one(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    assert reconcile(helm_release(sandbox_namespace, {"releaseName": "one"}), chart_dir, cli, cluster).ready
    renamed = reconcile(helm_release(sandbox_namespace, {"releaseName": "two"}), chart_dir, cli, cluster)
    assert renamed.ready and renamed.actions == ["uninstall", "install"]
    listed = json.loads(sandbox.helm("list", "-n", sandbox_namespace, "-o", "json").stdout)
    assert [r["name"] for r in listed] == ["two"]
    assert cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "one-config")) is None
