"""load_manifests on text, files and folders; parse_object; models in both spellings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

import airflow_flux_provider.specs as specs
from airflow_flux_provider.specs import (
    GitRepository,
    HelmRelease,
    KubernetesObject,
    Kustomization,
    SpecError,
    load_manifests,
    parse_object,
)

SOURCE = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: app
  namespace: flux-system
  labels: {team: ml}
spec:
  interval: 1m
  url: https://example.com/app.git
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n"
KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  prune: true
  sourceRef: {kind: GitRepository, name: app}
"""


def test_multi_document_text_keeps_order_and_skips_empty_documents() -> None:
    objects = load_manifests(f"---\n{SOURCE}---\n---\n{NAMESPACE}---\n{KUSTOMIZATION}")
    assert [type(o) for o in objects] == [GitRepository, KubernetesObject, Kustomization]
    assert objects[0].metadata.labels == {"team": "ml"}
    assert objects[1].ref == "Namespace/default/apps"
    assert objects[1].to_manifest() == yaml.safe_load(NAMESPACE)


def test_empty_text_has_no_objects() -> None:
    assert load_manifests("# nothing here\n---\n") == []


def test_file_given_as_path_or_string(tmp_path: Path) -> None:
    path = tmp_path / "source.yaml"
    path.write_text(SOURCE)
    assert [o.ref for o in load_manifests(path)] == ["GitRepository/flux-system/app"]
    assert [o.ref for o in load_manifests(str(path))] == ["GitRepository/flux-system/app"]


def test_folder_is_read_recursively_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "b-apps").mkdir()
    (tmp_path / "b-apps" / "ks.yml").write_text(KUSTOMIZATION)
    (tmp_path / "a-source.yaml").write_text(SOURCE)
    (tmp_path / "c-ns.yaml").write_text(NAMESPACE)
    (tmp_path / "README.md").write_text("kind: not yaml to load")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.yaml").write_text("not: [valid")
    refs = [o.ref for o in load_manifests(tmp_path)]
    assert refs == [
        "GitRepository/flux-system/app",
        "Kustomization/flux-system/apps",
        "Namespace/default/apps",
    ]


def test_kind_list_is_expanded() -> None:
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [yaml.safe_load(SOURCE), yaml.safe_load(NAMESPACE)],
    }
    objects = load_manifests(yaml.safe_dump(listing))
    assert [o.kind for o in objects] == ["GitRepository", "Namespace"]


def test_snake_case_and_camel_case_both_populate() -> None:
    spec = {
        "interval": "5m",
        "release_name": "web",
        "chartRef": {"kind": "OCIRepository", "name": "web"},
        "values_from": [{"kind": "ConfigMap", "name": "web-values", "values_key": "prod.yaml"}],
    }
    release = parse_object({"api_version": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                            "metadata": {"name": "web"}, "spec": spec})  # fmt: skip
    assert isinstance(release, HelmRelease)
    assert release.spec.release_name == "web"
    assert release.spec.values_from[0].values_key == "prod.yaml"
    manifest = release.to_manifest()
    assert manifest["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert manifest["spec"]["releaseName"] == "web"
    assert manifest["spec"]["valuesFrom"][0] == {
        "kind": "ConfigMap", "name": "web-values", "valuesKey": "prod.yaml", "optional": False,
        "literal": False,
    }  # fmt: skip


def test_to_manifest_is_yaml_ready_and_round_trips() -> None:
    (source,) = load_manifests(SOURCE)
    manifest = source.to_manifest()
    assert manifest["spec"]["interval"] == "1m" and manifest["spec"]["timeout"] == "1m"
    assert manifest["spec"]["ref"] == {"branch": "master"}
    assert "include" not in manifest["spec"]  # empty lists are left out
    (again,) = load_manifests(yaml.safe_dump(manifest))
    assert again == source


def test_an_explicitly_empty_list_is_not_the_default() -> None:
    data = {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageRepository",
        "metadata": {"name": "app"},
        "spec": {"image": "ghcr.io/org/app", "interval": "5m", "exclusionList": []},
    }
    repo = parse_object(data)
    assert repo.spec.exclusion_list == []
    assert parse_object(repo.to_manifest()).spec.exclusion_list == []


def test_free_form_fields_keep_nulls_and_nesting() -> None:
    spec = {
        "interval": "5m",
        "chartRef": {"kind": "OCIRepository", "name": "web"},
        "values": {"image": {"tag": None}, "list": [], "nested": {"a": {"b": [1, {"c": True}]}}},
    }
    release = parse_object({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                            "metadata": {"name": "web"}, "spec": spec})  # fmt: skip
    assert release.to_manifest()["spec"]["values"] == spec["values"]


def test_status_of_exported_objects_is_accepted() -> None:
    data = yaml.safe_load(SOURCE)
    data["metadata"]["uid"] = "1234"
    data["metadata"]["resourceVersion"] = "42"
    data["status"] = {"observedGeneration": -1}
    repo = parse_object(data)
    assert repo.status == {"observedGeneration": -1}
    assert repo.spec.interval == timedelta(minutes=1)


def test_every_kind_is_exported_by_name() -> None:
    for group in specs.KINDS.values():
        for kind, model in group.items():
            assert getattr(specs, kind) is model
            assert kind in specs.__all__


def test_server_set_metadata_is_kept() -> None:
    data = yaml.safe_load(SOURCE)
    data["metadata"].update(
        {"uid": "0d4f", "resourceVersion": "42", "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
         "finalizers": ["finalizers.fluxcd.io"]}
    )  # fmt: skip
    repo = parse_object(data)
    assert repo.metadata.resource_version == "42" and repo.metadata.generation == 3
    assert repo.to_manifest()["metadata"] == data["metadata"]


def test_passthrough_manifest_is_a_copy() -> None:
    (namespace,) = load_manifests(NAMESPACE)
    namespace.to_manifest()["metadata"]["name"] = "changed"
    assert namespace.to_manifest()["metadata"]["name"] == "apps"


def test_data_files_in_a_folder_are_skipped_but_not_when_given_directly(tmp_path: Path) -> None:
    (tmp_path / "source.yaml").write_text(SOURCE)
    (tmp_path / "config.yaml").write_text("learning_rate: 0.01\nepochs: 3\n")
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - source.yaml\n")
    (tmp_path / "half.yaml").write_text("kind: GitRepository\nmetadata: {name: half}\n")
    with pytest.raises(SpecError, match=r"half\.yaml: GitRepository/default/half field apiVersion"):
        load_manifests(tmp_path)
    (tmp_path / "half.yaml").unlink()
    assert [o.ref for o in load_manifests(tmp_path)] == ["GitRepository/flux-system/app"]
    with pytest.raises(SpecError, match=r"config\.yaml: <no kind>/default/<unnamed> field apiVersion"):
        load_manifests(tmp_path / "config.yaml")


def test_passthrough_metadata_is_read_leniently() -> None:
    (deployment,) = load_manifests(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\n"
        "  labels: {replicas: 3}\n  finalizers: [example.com/keep]\n"
    )
    assert deployment.ref == "Deployment/apps/web"
    assert deployment.metadata.labels == {"replicas": "3"}
    assert deployment.metadata.finalizers == ["example.com/keep"]


def test_a_missing_path_without_suffix_is_named_as_a_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no such file or folder: .*clusters"):
        load_manifests(str(tmp_path / "clusters"))
    assert [o.kind for o in load_manifests("{apiVersion: v1, kind: Namespace, metadata: {name: a}}")] == [
        "Namespace"
    ]


def test_parsing_does_not_change_the_input() -> None:
    data = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {
            "interval": "5m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "r"},
            "patchesStrategicMerge": [{"kind": "Deployment", "metadata": {"name": "web"}}],
        },
    }
    before = yaml.safe_dump(data)
    parse_object(data)
    assert yaml.safe_dump(data) == before
