"""Rendering behaviour users rely on: the artifact store, the input cache, variables and their sources."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kustomize import ClusterReader, RenderStore, SubstitutionError, digest_of, render
from tests.kustomize.conftest import kustomization, write_tree
from tests.kustomize.corpus import BASE, CONFIG

TEMPLATE = CONFIG.replace("mode: fast", "mode: ${MODE}\n  region: ${REGION:=eu}\n  token: ${TOKEN:-none}")


def test_render_is_stored_by_digest_and_the_artifact_is_untouched(tmp_path: Path, store: RenderStore) -> None:
    source = write_tree(tmp_path / "src", {"app/cm.yaml": CONFIG})
    rendered = render(kustomization(targetNamespace="x"), source, store=store)
    data = Path(rendered.path).read_bytes()
    assert (
        rendered.digest
        == digest_of(data)
        == "sha256:" + rendered.path.rsplit("/", 1)[1].removesuffix(".yaml")
    )
    assert store.get(rendered.digest) == data
    assert sorted(p.name for p in (source / "app").iterdir()) == ["cm.yaml"]
    assert rendered.to_xcom() == {
        "digest": rendered.digest,
        "path": rendered.path,
        "objects": 1,
        "kinds": {"ConfigMap": 1},
        "kustomize_version": "v5.8.1",
        "cached": False,
        "sealed": False,
        "url": "",  # the render task puts it into the shared store (operators/kustomize.py)
    }


def test_same_inputs_come_from_the_cache_without_kustomize(
    tmp_path: Path, store: RenderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_tree(tmp_path / "src", {"app/cm.yaml": TEMPLATE})
    ks = kustomization(postBuild={"substitute": {"MODE": "a"}})
    first = render(ks, source, store=store, source_digest="sha256:" + "1" * 64)
    monkeypatch.setenv(
        "AIRFLOW__FLUX__KUBECTL_PATH", str(tmp_path / "no-kubectl")
    )  # any kustomize run would fail
    again = render(ks, source, store=store, source_digest="sha256:" + "1" * 64)
    assert again.cached and again.digest == first.digest
    monkeypatch.delenv("AIRFLOW__FLUX__KUBECTL_PATH")
    moved = render(ks, source, store=store, source_digest="sha256:" + "2" * 64)  # same files read
    assert moved.cached and moved.digest == first.digest
    assert render(ks, source, store=store).cached
    changed = render(ks, source, store=store, airflow_vars={"REGION": "us"})
    assert not changed.cached and changed.digest != first.digest
    (source / "app" / "cm.yaml").write_text(TEMPLATE.replace("settings", "renamed"))
    assert not render(ks, source, store=store).cached


def test_no_variables_leaves_expressions_and_always_expands_them(tmp_path: Path, store: RenderStore) -> None:
    source = write_tree(tmp_path / "src", {"app/cm.yaml": TEMPLATE})
    untouched = yaml.safe_load(render(kustomization(postBuild={}), source, store=store).read())
    assert untouched["data"]["region"] == "${REGION:=eu}"
    with pytest.raises(SubstitutionError, match=r"ConfigMap/settings \(MODE\)"):
        render(kustomization(postBuild={"substituteStrategy": "Always"}), source, store=store)
    lax = render(kustomization(postBuild={"substituteStrategy": "Always"}), source, store=store, strict=False)
    assert yaml.safe_load(lax.read())["data"] == {"mode": None, "region": "eu", "token": "none"}


def test_generated_kustomization_for_a_folder_without_one(tmp_path: Path, store: RenderStore) -> None:
    source = write_tree(tmp_path / "src", {"app/readme.txt": "not yaml", "app/empty/.keep": ""})
    empty = render(kustomization(), source, store=store)
    assert empty.objects == 0 and empty.read() == ""


def test_kustomization_without_resources_gets_origin_annotations(tmp_path: Path, store: RenderStore) -> None:
    source = write_tree(
        tmp_path / "src", {"app/kustomization.yaml": "configMapGenerator:\n- {name: g, literals: [a=1]}\n"}
    )
    (doc,) = yaml.safe_load_all(render(kustomization(), source, store=store).read())
    assert "config.kubernetes.io/origin" in doc["metadata"]["annotations"]


def test_multiline_values_collapse_and_numbers_stay_numbers(tmp_path: Path, store: RenderStore) -> None:
    files = {"app/d.yaml": BASE["base/deploy.yaml"].replace("replicas: 1", "replicas: ${N}")}
    source = write_tree(tmp_path / "src", files)
    rendered = render(kustomization(postBuild={"substitute": {"N": "1\n2"}}), source, store=store)
    assert yaml.safe_load(rendered.read())["spec"]["replicas"] == 12


def test_substitute_from_configmaps_and_secrets_in_the_cluster(
    tmp_path: Path, store: RenderStore, sandbox: Any, sandbox_namespace: str
) -> None:
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    meta = {"namespace": sandbox_namespace}
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": "vars"},
            "data": {"MODE": "from-configmap", "REGION": "cm-region"},
        }
    )
    secret = base64.b64encode(b"s3cr3t\n").decode()
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**meta, "name": "creds"},
            "data": {"TOKEN": secret, "REGION": base64.b64encode(b"secret-region").decode()},
        }
    )
    source = write_tree(tmp_path / "src", {"app/cm.yaml": TEMPLATE})
    refs = [
        {"kind": "ConfigMap", "name": "vars"},
        {"kind": "Secret", "name": "creds"},
        {"kind": "ConfigMap", "name": "absent", "optional": True},
    ]
    ks = kustomization(namespace=sandbox_namespace, postBuild={"substituteFrom": refs})
    data = yaml.safe_load(render(ks, source, store=store, reader=ClusterReader(cluster)).read())["data"]
    assert data == {"mode": "from-configmap", "region": "secret-region", "token": "s3cr3t"}

    inline = kustomization(
        namespace=sandbox_namespace, postBuild={"substituteFrom": refs, "substitute": {"MODE": "inline"}}
    )
    airflow = {"MODE": "airflow", "REGION": "airflow-region"}
    data = yaml.safe_load(
        render(inline, source, store=store, reader=ClusterReader(cluster), airflow_vars=airflow).read()
    )
    assert data["data"] == {"mode": "inline", "region": "airflow-region", "token": "s3cr3t"}

    missing = kustomization(
        namespace=sandbox_namespace, postBuild={"substituteFrom": [{"kind": "Secret", "name": "gone"}]}
    )
    with pytest.raises(SubstitutionError) as caught:
        render(missing, source, store=store, reader=ClusterReader(cluster))
    message = str(caught.value)
    assert f"substitute from 'Secret/gone' error: Secret {sandbox_namespace}/gone not found" in message
    assert "optional: true" in message

    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": "dotted"},
            "data": {"app.conf": "x"},
        }
    )
    dotted = kustomization(
        namespace=sandbox_namespace, postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "dotted"}]}
    )
    with pytest.raises(SubstitutionError, match=r"'app\.conf' var name is invalid"):
        render(dotted, source, store=store, reader=ClusterReader(cluster))
