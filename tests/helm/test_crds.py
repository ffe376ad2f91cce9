"""CRD policy: helm installs ``crds/`` (Create) or not (Skip); on upgrade CreateReplace updates them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.helm.conftest import helm_release, reconcile

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.example.com
spec:
  group: example.com
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: {description}
        x-kubernetes-preserve-unknown-fields: true
"""


def _chart(root: Path, plural: str, description: str) -> Path:
    chart = root / "crd-chart"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "crds").mkdir(exist_ok=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text("message: hi\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: crd-user}\n"
        "data: {message: {{ .Values.message | quote }}}\n"
    )
    kind = plural.removesuffix("s").capitalize()
    (chart / "crds" / "crd.yaml").write_text(
        CRD.format(plural=plural, kind=kind, singular=plural.removesuffix("s"), description=description)
    )
    return chart


def _crd(cluster: Cluster, plural: str) -> dict[str, Any] | None:
    return cluster.get(
        ObjectKey("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", f"{plural}.example.com")
    )


def test_crds_created_on_install_and_replaced_on_upgrade(
    tmp_path: Path, sandbox_namespace: str, cli: HelmCli, cluster: Cluster, crd_plural: str
) -> None:
    plural = crd_plural
    chart = _chart(tmp_path, plural, "first")
    hr = helm_release(sandbox_namespace, {"upgrade": {"crds": "CreateReplace"}})
    assert reconcile(hr, chart, cli, cluster).ready
    crd = _crd(cluster, plural)
    assert crd is not None
    assert crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] == "first"

    chart = _chart(tmp_path, plural, "second")
    changed = helm_release(
        sandbox_namespace, {"upgrade": {"crds": "CreateReplace"}, "values": {"message": "x"}}
    )
    upgraded = reconcile(changed, chart, cli, cluster)
    assert upgraded.ready and upgraded.actions == ["upgrade"]
    crd = _crd(cluster, plural)
    assert crd is not None
    assert crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] == "second"


def test_install_skips_crds(
    tmp_path: Path, sandbox_namespace: str, cli: HelmCli, cluster: Cluster, crd_plural: str
) -> None:
    plural = crd_plural
    hr = helm_release(sandbox_namespace, {"install": {"crds": "Skip"}})
    assert reconcile(hr, _chart(tmp_path, plural, "skipped"), cli, cluster).ready
    assert _crd(cluster, plural) is None
