"""Older apiVersions load into the current shape; what downstream needs (the apiVersion) is kept."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from airflow_flux_provider.specs import (
    KINDS,
    GitRepository,
    HelmChart,
    HelmRelease,
    ImageUpdateAutomation,
    Kustomization,
    SpecError,
    parse_object,
)


def _obj(api_version: str, kind: str, spec: dict[str, Any]) -> Any:
    return parse_object({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": spec})


@pytest.mark.parametrize(
    ("kind", "group", "versions"),
    [
        ("GitRepository", "source.toolkit.fluxcd.io", ["v1", "v1beta2", "v1beta1"]),
        ("OCIRepository", "source.toolkit.fluxcd.io", ["v1", "v1beta2"]),
        ("Kustomization", "kustomize.toolkit.fluxcd.io", ["v1", "v1beta2", "v1beta1"]),
        ("HelmRelease", "helm.toolkit.fluxcd.io", ["v2", "v2beta2", "v2beta1"]),
        ("ImageUpdateAutomation", "image.toolkit.fluxcd.io", ["v1", "v1beta2", "v1beta1", "v1alpha2"]),
        ("Receiver", "notification.toolkit.fluxcd.io", ["v1", "v1beta2", "v1beta1"]),
        ("Alert", "notification.toolkit.fluxcd.io", ["v1beta3", "v1beta2", "v1beta1"]),
        ("Canary", "flagger.app", ["v1beta1"]),
    ],
)
def test_served_versions(kind: str, group: str, versions: list[str]) -> None:
    assert KINDS[group][kind].served_api_versions() == tuple(f"{group}/{v}" for v in versions)


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_legacy_kustomization_patches_become_patches(version: str) -> None:
    spec = {
        "interval": "10m",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "validation": "client",
        "patchesStrategicMerge": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": 2},
            }
        ],
        "patchesJson6902": [
            {
                "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "web"},
                "patch": [{"op": "add", "path": "/metadata/labels/tier", "value": "web"}],
            }
        ],
        "patches": [{"patch": "- op: remove\n  path: /spec/paused\n", "target": {"kind": "Deployment"}}],
    }
    ks = _obj(f"kustomize.toolkit.fluxcd.io/{version}", "Kustomization", spec)
    assert isinstance(ks, Kustomization)
    assert ks.api_version == f"kustomize.toolkit.fluxcd.io/{version}"
    patches = ks.spec.patches
    assert len(patches) == 3
    assert patches[0].target is not None and patches[0].target.kind == "Deployment"
    assert yaml.safe_load(patches[1].patch)["spec"] == {"replicas": 2}
    assert patches[1].target is None
    assert yaml.safe_load(patches[2].patch) == [
        {"op": "add", "path": "/metadata/labels/tier", "value": "web"}
    ]
    assert patches[2].target is not None and patches[2].target.name == "web"
    manifest = ks.to_manifest()["spec"]
    assert "patchesStrategicMerge" not in manifest and "validation" not in manifest
    assert parse_object(ks.to_manifest()) == ks


def test_current_kustomization_refuses_removed_fields() -> None:
    spec = {
        "interval": "10m",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "r"},
        "validation": "client",
    }
    with pytest.raises(SpecError, match=r"field spec\.validation: unknown field 'validation'"):
        _obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", spec)


def test_legacy_git_repository_fields_are_dropped() -> None:
    spec = {"url": "ssh://git@h/r.git", "interval": "1m", "gitImplementation": "libgit2", "accessFrom": {}}
    repo = _obj("source.toolkit.fluxcd.io/v1beta2", "GitRepository", spec)
    assert isinstance(repo, GitRepository) and repo.version == "v1beta2"
    with pytest.raises(SpecError, match="unknown field 'gitImplementation'"):
        _obj("source.toolkit.fluxcd.io/v1", "GitRepository", spec)


def test_legacy_helm_chart_values_file() -> None:
    spec = {
        "chart": "./charts/web",
        "interval": "5m",
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "valuesFile": "values-prod.yaml",
        "valuesFiles": ["values-extra.yaml"],
    }
    chart = _obj("source.toolkit.fluxcd.io/v1beta2", "HelmChart", spec)
    assert isinstance(chart, HelmChart)
    assert chart.spec.values_files == ["values-prod.yaml", "values-extra.yaml"]


def test_legacy_helm_release() -> None:
    spec = {
        "interval": "10m",
        "chart": {
            "spec": {
                "chart": "web",
                "sourceRef": {"kind": "HelmRepository", "name": "c"},
                "valuesFile": "v.yaml",
            }
        },
        "install": {"skipCRDs": True},
        "postRenderers": [
            {"kustomize": {"patchesStrategicMerge": [{"kind": "Deployment", "metadata": {"name": "web"}}]}}
        ],
    }
    release = _obj("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease", spec)
    assert isinstance(release, HelmRelease)
    assert release.spec.install.crds == "Skip"
    assert release.spec.chart is not None and release.spec.chart.spec.values_files == ["v.yaml"]
    renderer = release.spec.post_renderers[0].kustomize
    assert renderer is not None and "name: web" in renderer.patches[0].patch


def test_skip_crds_is_still_read_in_v2_and_crds_wins() -> None:
    spec = {
        "interval": "10m",
        "chartRef": {"kind": "OCIRepository", "name": "web"},
        "install": {"skipCRDs": True, "crds": "CreateReplace"},
    }
    release = _obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", spec)
    assert release.spec.install.crds == "CreateReplace"


@pytest.mark.parametrize(
    ("version", "legacy"),
    [("v1alpha2", True), ("v1beta1", True), ("v1beta2", True), ("v1", False)],
)
def test_image_update_automation_keeps_its_version_for_the_template_data(version: str, legacy: bool) -> None:
    spec = {
        "interval": "1m",
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "git": {"commit": {"author": {"email": "bot@example.com"}}},
    }
    automation = _obj(f"image.toolkit.fluxcd.io/{version}", "ImageUpdateAutomation", spec)
    assert isinstance(automation, ImageUpdateAutomation)
    assert automation.version == version
    assert automation.legacy_template_data is legacy
    assert automation.to_manifest()["apiVersion"] == f"image.toolkit.fluxcd.io/{version}"


def test_to_manifest_latest_migrates_an_old_object() -> None:
    spec = {
        "interval": "10m",
        "chart": {
            "spec": {
                "chart": "web",
                "sourceRef": {"kind": "HelmRepository", "name": "c"},
                "valuesFile": "v.yaml",
            }
        },
        "install": {"skipCRDs": True},
    }
    old = _obj("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease", spec)
    assert old.to_manifest()["apiVersion"] == "helm.toolkit.fluxcd.io/v2beta1"
    migrated = old.to_manifest(latest=True)
    assert migrated["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert migrated["spec"]["chart"]["spec"]["valuesFiles"] == ["v.yaml"]
    assert migrated["spec"]["install"]["crds"] == "Skip" and "skipCRDs" not in migrated["spec"]["install"]
    current = parse_object(migrated)
    assert current.version == "v2" and current.spec == old.spec


def _automation(template: str) -> Any:
    commit = {"author": {"email": "bot@example.com"}, "messageTemplate": template}
    spec = {
        "interval": "1m",
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "git": {"commit": commit},
    }
    return _obj("image.toolkit.fluxcd.io/v1beta1", "ImageUpdateAutomation", spec)


def test_migrating_an_automation_whose_template_uses_updated_is_refused() -> None:
    old = _automation("{{ .Updated.Images }}")
    assert old.to_manifest()["apiVersion"] == "image.toolkit.fluxcd.io/v1beta1"
    with pytest.raises(SpecError) as info:
        old.to_manifest(latest=True)
    assert info.value.field == "spec.git.commit.messageTemplate"
    assert "uses .Updated, which image.toolkit.fluxcd.io/v1 removed; rewrite it with .Changed" in str(
        info.value
    )
    migrated = _automation("{{ range .Changed.Changes }}{{ .NewValue }}{{ end }}").to_manifest(latest=True)
    assert migrated["apiVersion"] == "image.toolkit.fluxcd.io/v1"
