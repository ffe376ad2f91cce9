"""Metadata set in process equals what kustomize writes; whatever it cannot match, kustomize does.

Each comparison runs the real kustomize (``kubectl kustomize``) over the same helm output through
a release with an empty kustomize layer, which forces the kustomize path.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import HelmCommandError
from airflow_flux_provider.helm.metadata import stamp
from airflow_flux_provider.helm.postrender import install_post_renderer
from airflow_flux_provider.tools import kubectl_path
from tests.helm.conftest import helm_release
from tests.seed import first_object

COMMON = {
    "labels": {"team": "data", "helm.toolkit.fluxcd.io/name": "spoofed"},
    "annotations": {"owner": "ml", "note": "yes"},
}
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\ndata: {{value: {value}}}\n"
LABELS = {"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "apps"}


@pytest.fixture
def chart_cli() -> Any:
    with HelmCli(None) as helm:
        yield helm


def _objects(text: str | bytes) -> list[dict[str, Any]]:
    """The documents in a fixed order (kustomize sorts them by kind; helm sorts them again)."""
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    return sorted(docs, key=lambda d: (d["kind"], d["metadata"]["name"]))


def _post_render(cli: HelmCli, text: str, spec: dict[str, Any]) -> tuple[bytes, bytes]:
    """``text`` post-rendered in process and by kustomize, both for a release with ``spec``."""
    ours = install_post_renderer(helm_release("apps", spec), cli, kubectl=kubectl_path(), namespace=None)
    in_process = ours.render(text)
    layered = {**spec, "postRenderers": [{"kustomize": {}}]}
    theirs = install_post_renderer(helm_release("apps", layered), cli, kubectl=kubectl_path(), namespace=None)
    return in_process, theirs.render(text)


def _helm_output(cli: HelmCli, chart: Path, values: dict[str, Any], tmp_path: Path) -> str:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    return cli.run(
        ["template", "--values", str(values_file)], operands=["web", str(chart)], cluster=False, timeout=60
    )


@pytest.mark.parametrize("common", [None, COMMON], ids=["origin-labels", "common-metadata"])
@pytest.mark.parametrize("chart", ["web", "seed"])
def test_in_process_equals_kustomize_on_the_test_and_seed_charts(
    chart_cli: HelmCli,
    chart: str,
    common: dict[str, Any] | None,
    chart_dir: Path,
    mlflow_chart: Path,
    tmp_path: Path,
) -> None:
    seed = first_object("HelmRelease")["spec"]["values"]  # the seed's own values for its chart
    path, values = (chart_dir, {}) if chart == "web" else (mlflow_chart, seed)
    text = _helm_output(chart_cli, path, values, tmp_path)
    spec = {"commonMetadata": common} if common else {}
    labels = {**(common or {}).get("labels", {}), **LABELS}
    assert stamp(text, labels, (common or {}).get("annotations", {})) is not None  # not a fallback
    in_process, kustomized = _post_render(chart_cli, text, spec)
    assert _objects(in_process) == _objects(kustomized)
    assert all(
        obj["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web" for obj in _objects(in_process)
    )


@pytest.mark.parametrize(
    "value",
    ["10Gi", "100m", "1.2.3", "--port=8080", "-Xmx512m", "1.5", "42", "true", "null", "'yes'", '"0755"'],
)
def test_unambiguous_scalars_in_process(chart_cli: HelmCli, value: str) -> None:
    text = CONFIGMAP.format(value=value)
    assert stamp(text, LABELS, {}) is not None
    in_process, kustomized = _post_render(chart_cli, text, {})
    assert _objects(in_process) == _objects(kustomized)


@pytest.mark.parametrize(
    "text",
    [
        *(
            CONFIGMAP.format(value=v)
            for v in ["yes", "on", "y", "0755", "1e3", "1_000", "0x1F", "2024-01-01"]
        ),
        CONFIGMAP.format(value="!!str 12"),  # a tag
        CONFIGMAP.format(value="&a x, other: *a"),  # an alias
        "apiVersion: v1\nkind: ConfigMapList\nitems: []\nmetadata: {}\n",  # kustomize expands a List
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: null, name: cm}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n",  # no name
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, name: other}\n",  # a duplicate key
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\n",  # the same object
        "- a list\n",
        "kind: [unclosed\n",
        CONFIGMAP.format(value="[" * 5000 + "]" * 5000),  # deeper than Python's recursion
    ],
)
def test_ambiguous_or_unusual_input_is_left_to_kustomize(text: str) -> None:
    assert stamp(text, LABELS, {}) is None


def test_release_without_layers_falls_back_to_kustomize_when_needed(
    chart_cli: HelmCli, tmp_path: Path
) -> None:
    """``yes`` is a string to kustomize and a boolean to YAML 1.1: the release gets kustomize's reading."""
    chart = tmp_path / "ambiguous"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: ambiguous\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(CONFIGMAP.format(value="yes"))
    with install_post_renderer(
        helm_release("apps", {}), chart_cli, kubectl=kubectl_path(), namespace=None
    ) as r:
        out = chart_cli.run(["template", *r.flags], operands=["web", str(chart)], cluster=False, timeout=60)
    [configmap] = _objects(out)
    assert configmap["data"] == {"value": "yes"}
    assert configmap["metadata"]["labels"] == LABELS


def test_serving_ends_when_helm_never_post_renders(chart_cli: HelmCli, strict_chart: Path) -> None:
    renderer = install_post_renderer(
        helm_release("apps", {}), chart_cli, kubectl=kubectl_path(), namespace=None
    )
    with renderer, pytest.raises(HelmCommandError, match="refusing value"):
        chart_cli.run(
            ["template", *renderer.flags, "--set", "explode=boom"],
            operands=["web", str(strict_chart)],
            cluster=False,
            timeout=60,
        )
    assert not [t for t in threading.enumerate() if t.name == "helm-post-render"]
