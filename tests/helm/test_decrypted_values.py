"""A HelmRelease takes ``valuesFrom`` a Secret that a Kustomization decrypted with SOPS (issue 20)."""

from __future__ import annotations

from pathlib import Path

import yaml
from cryptography.fernet import Fernet

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kustomize import RenderStore, render
from tests.helm.conftest import helm_release, reconcile
from tests.kustomize.conftest import kustomization, write_tree
from tests.kustomize.test_decryption import AgeKey, encrypt

MESSAGE = "from-a-sops-secret"


def test_values_from_a_secret_the_build_decrypted(
    tmp_path: Path, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    age = AgeKey.new()
    secret = (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-values\nstringData:\n  message: {MESSAGE}\n"
    )
    source = write_tree(
        tmp_path / "src",
        {
            "app/secret.yaml": encrypt(
                tmp_path, age, secret, "secret.yaml", "--encrypted-regex", "^stringData$"
            )
        },
    )
    store = RenderStore(tmp_path / "store", sealer=Fernet(Fernet.generate_key()))
    ks = kustomization(
        decryption={"provider": "sops", "secretRef": {"name": "sops-age"}}, targetNamespace=sandbox_namespace
    )
    rendered = render(ks, source, store=store, decryption_keys=age.keys)
    for obj in yaml.safe_load_all(store.text(rendered)):
        cluster.apply(obj)

    hr = helm_release(
        sandbox_namespace,
        {
            "valuesFrom": [
                {"kind": "Secret", "name": "web-values", "valuesKey": "message", "targetPath": "message"}
            ]
        },
    )
    outcome = reconcile(hr, chart_dir, cli, cluster)
    assert outcome.ready, outcome.message
    config = cluster.get(ObjectKey("v1", "ConfigMap", sandbox_namespace, "web-config"))
    assert config is not None and config["data"]["message"] == MESSAGE
