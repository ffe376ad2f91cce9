"""The post-renderer helm runs on every render: Flux's kustomize layers, commonMetadata, origin labels.

Rendered by ``helm template`` through the real plugin and the real kustomize; no cluster needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider import events
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import HelmCommandError
from airflow_flux_provider.helm.postrender import install_post_renderer
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.tools import kubectl_path
from tests.helm.conftest import helm_release, reconcile


@pytest.fixture
def chart_cli() -> Any:
    with HelmCli(None) as helm:
        yield helm


def _render(cli: HelmCli, chart: Path, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    """The post-rendered objects by kind (test hooks left out: helm post-renders them or not by version)."""
    hr = helm_release("apps", spec)
    with install_post_renderer(hr, cli, kubectl=kubectl_path(), namespace=namespace) as renderer:
        out = cli.run(["template", *renderer.flags], operands=["web", str(chart)], cluster=False, timeout=60)
    docs = [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]
    return {d["kind"]: d for d in docs if "helm.sh/hook" not in (d["metadata"].get("annotations") or {})}


def test_origin_labels_and_common_metadata_on_every_object(chart_cli: HelmCli, chart_dir: Path) -> None:
    metadata = {
        "labels": {"team": "data", "helm.toolkit.fluxcd.io/name": "spoofed"},
        "annotations": {"owner": "ml"},
    }
    objects = _render(chart_cli, chart_dir, {"commonMetadata": metadata})
    assert sorted(objects) == ["ConfigMap", "Deployment"]
    for obj in objects.values():
        # the origin labels win a key collision with commonMetadata (Flux's renderer order)
        assert obj["metadata"]["labels"] == {
            "team": "data", "helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "apps",
        }  # fmt: skip
        assert obj["metadata"]["annotations"] == {"owner": "ml"}
        assert "namespace" not in obj["metadata"]
    template = objects["Deployment"]["spec"]["template"]["metadata"]
    assert template == {"labels": {"app": "web"}}  # object metadata only, as Flux's field specs


def test_kustomize_post_renderers_apply_in_list_order(chart_cli: HelmCli, chart_dir: Path) -> None:
    first = {
        "patches": [{
            "target": {"kind": "Deployment"},
            "patch": "- op: add\n  path: /metadata/annotations\n  value: {stage: first}\n",
        }],
        "images": [{"name": "nginx", "newTag": "1.28"}],
    }  # fmt: skip
    second = {  # selects what the first one wrote: it runs on the first one's output
        "patches": [{
            "target": {"kind": "Deployment", "annotationSelector": "stage=first"},
            "patch": "- op: add\n  path: /metadata/annotations/seen\n  value: 'yes'\n",
        }],
    }  # fmt: skip
    spec = {"postRenderers": [{"kustomize": first}, {"kustomize": second}]}
    objects = _render(chart_cli, chart_dir, spec)
    deployment = objects["Deployment"]
    assert deployment["metadata"]["annotations"] == {"stage": "first", "seen": "yes"}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert "annotations" not in objects["ConfigMap"]["metadata"]
    assert deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"


def test_target_namespace_set_on_every_object(chart_cli: HelmCli, chart_dir: Path) -> None:
    objects = _render(chart_cli, chart_dir, {}, namespace="target")
    assert {kind: obj["metadata"]["namespace"] for kind, obj in objects.items()} == {
        "ConfigMap": "target", "Deployment": "target",
    }  # fmt: skip


def test_failing_patch_names_the_post_renderer(chart_cli: HelmCli, chart_dir: Path) -> None:
    broken = {
        "patches": [{"target": {"kind": "Deployment"}, "patch": "- op: remove\n  path: /spec/missing\n"}]
    }
    spec = {
        "postRenderers": [
            {"kustomize": {"images": [{"name": "nginx", "newTag": "1.28"}]}},
            {"kustomize": broken},
        ]
    }
    hr = helm_release("apps", spec)
    renderer = install_post_renderer(hr, chart_cli, kubectl=kubectl_path(), namespace=None)
    assert renderer.error() == ""
    with renderer, pytest.raises(HelmCommandError):
        chart_cli.run(
            ["template", *renderer.flags], operands=["web", str(chart_dir)], cluster=False, timeout=60
        )
    # helm 4 drops a post-renderer's stderr; the renderer keeps what kustomize said, of which layer
    assert renderer.error() == (
        "postRenderers[1]: error in remove for path: '/spec/missing': Unable to remove nonexistent key: "
        "missing: missing value"
    )
    with renderer:  # a new action of the same reconcile starts without the last one's failure
        assert renderer.error() == ""


def test_chart_without_objects(chart_cli: HelmCli, tmp_path: Path) -> None:
    chart = tmp_path / "empty"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: empty\nversion: 0.1.0\n")
    assert _render(chart_cli, chart, {"commonMetadata": {"labels": {"team": "data"}}}) == {}


def test_failed_post_render_fails_the_install_with_kustomize_reason(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster, emitted: list[events.Event]
) -> None:
    broken = {
        "patches": [{"target": {"kind": "Deployment"}, "patch": "- op: remove\n  path: /spec/missing\n"}]
    }
    outcome = reconcile(
        helm_release(sandbox_namespace, {"postRenderers": [{"kustomize": broken}]}), chart_dir, cli, cluster
    )
    assert not outcome.ready and outcome.actions == ["install-failed"]
    assert "postRenderers[0]: error in remove for path: '/spec/missing'" in outcome.message
    assert [e.reason for e in emitted] == ["InstallFailed"]
    assert "postRenderers[0]: error in remove for path: '/spec/missing'" in emitted[0].message
