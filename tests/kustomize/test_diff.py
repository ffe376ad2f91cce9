"""diff against the sandbox API server: created, configured, unchanged and to-be-deleted objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.inventory import Inventory
from airflow_flux_provider.kustomize import RenderStore, render
from airflow_flux_provider.kustomize.diff import diff
from tests.kustomize.conftest import kustomization, write_tree


def configmap(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {value}\n"


def test_diff_reports_each_action_and_writes_nothing(
    tmp_path: Path, store: RenderStore, sandbox: Any, sandbox_namespace: str
) -> None:
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    ns = sandbox_namespace
    files = {
        "app/a.yaml": configmap("same", "one"),
        "app/b.yaml": configmap("changed", "${V}"),
        "app/c.yaml": configmap("new", "three"),
    }
    ks = kustomization(targetNamespace=ns, postBuild={"substitute": {"V": "two"}})
    owner = {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    for name, value in (("same", "one"), ("changed", "old"), ("gone", "x")):
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": ns, "labels": owner},
                "data": {"v": value},
            }
        )
    inventory = Inventory.of(
        ObjectKey("v1", "ConfigMap", ns, n) for n in ("same", "changed", "gone")
    ).to_entries()
    rendered = render(ks, write_tree(tmp_path / "src", files), store=store).read()

    report = diff(ks, rendered, cluster, inventory=inventory)

    assert report.lines() == [
        f"► ConfigMap/{ns}/changed drifted",
        "  /data/v",
        "    - old",
        "    + two",
        f"► ConfigMap/{ns}/new created",
        f"► ConfigMap/{ns}/gone deleted",
    ]
    assert report.has_changes
    assert report.to_xcom()["counts"] == {"configured": 1, "created": 1, "unchanged": 1, "deleted": 1}
    assert cluster.get(ObjectKey("v1", "ConfigMap", ns, "new")) is None
    live = cluster.get(ObjectKey("v1", "ConfigMap", ns, "changed"))
    assert live is not None and live["data"] == {"v": "old"}


def test_cli_diff_exits_1_on_differences_and_0_without(
    tmp_path: Path, sandbox: Any, sandbox_namespace: str
) -> None:
    source = write_tree(tmp_path / "src", {"app/a.yaml": configmap("cli", "${V:=dflt}")})
    ks_file = tmp_path / "ks.yaml"
    manifest = kustomization(targetNamespace=sandbox_namespace, prune=False, postBuild={}).to_manifest()
    ks_file.write_text(yaml.safe_dump(manifest))
    command = [
        sys.executable,
        "-m",
        "airflow_flux_provider",
        "diff",
        "-f",
        str(ks_file),
        "--path",
        str(source / "app"),
        "--source-root",
        str(source),
        "--kubeconfig",
        str(sandbox.kubeconfig),
        "--var",
        "V=x",
    ]
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (first.returncode, first.stdout) == (1, f"► ConfigMap/{sandbox_namespace}/cli created\n"), (
        first.stderr
    )
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    owner = {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "data": {"v": "x"},
            "metadata": {"name": "cli", "namespace": sandbox_namespace, "labels": owner},
        }
    )
    second = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (second.returncode, second.stdout) == (0, ""), second.stderr


def test_diff_operator_logs_and_gates(
    tmp_path: Path, store: RenderStore, sandbox: Any, sandbox_namespace: str, airflow_connections: Any
) -> None:
    from airflow_flux_provider.errors import FluxError
    from airflow_flux_provider.operators.kustomize import KustomizationDiffOperator

    airflow_connections.kubernetes("sandbox_k8s", sandbox)
    ks = kustomization(targetNamespace=sandbox_namespace)
    rendered = render(ks, write_tree(tmp_path / "src", {"app/a.yaml": configmap("op", "v")}), store=store)
    manifest = ks.to_manifest()
    op = KustomizationDiffOperator(
        task_id="diff", manifest=manifest, rendered=rendered.to_xcom(), kubernetes_conn_id="sandbox_k8s"
    )
    xcom = op.execute({})
    assert xcom["changed"] and xcom["entries"] == [
        {"ref": f"ConfigMap/{sandbox_namespace}/op", "action": "created"}
    ]
    gate = KustomizationDiffOperator(
        task_id="gate",
        manifest=manifest,
        rendered=rendered.read(),
        kubernetes_conn_id="sandbox_k8s",
        fail_on_changes=True,
    )
    with pytest.raises(FluxError, match="1 object\\(s\\) would change"):
        gate.execute({})
