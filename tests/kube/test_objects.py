"""The Flux objects in a cluster: the CRDs install with one command and real kubectl validates and prints
the objects against them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.objects import serves
from airflow_flux_provider.kustomize import envsubst
from airflow_flux_provider.specs.registry import KINDS
from flux_devkit.sandbox import Sandbox, SandboxError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    *(ROOT / "devkit/flux_devkit/demo/gitops").glob("**/*.yaml"),
    *(ROOT / "tests/kustomize/seed").glob("**/*.yaml"),
]

PLACEHOLDERS = {"GITOPS_URL": "https://git.example.com/ml-gitops.git", "REGISTRY_HOST": "registry.example"}


def _install(sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_flux_provider", "install", "--kubeconfig", str(sandbox.kubeconfig)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def test_install_is_one_command_and_a_second_run_changes_nothing(sandbox: Sandbox, cluster: Cluster) -> None:
    _install(sandbox)  # the session cluster has them already: this is the "second" run
    sandbox.counters.reset()
    again = _install(sandbox)
    assert sandbox.counters.mutating() == 0
    assert again.stdout.count(" unchanged") == 16 and "16 CustomResourceDefinitions installed" in again.stdout
    for kinds in KINDS.values():
        for kind, model in kinds.items():
            for api_version in model.served_api_versions():
                assert serves(cluster, api_version, kind), f"{kind} {api_version}"


def _flux_examples() -> list[dict]:
    """Every Flux/Flagger object of the demo repository and the seed, placeholders filled with defaults."""
    found = []
    for path in sorted(EXAMPLES):
        if "/charts/" in str(path):
            continue  # Helm templates, not YAML
        text, _missing = envsubst.substitute(path.read_text(), PLACEHOLDERS, strict=False)
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).rpartition("/")[0] in KINDS:
                found.append(doc)
    return found


def test_real_kubectl_accepts_every_example_object(sandbox: Sandbox, sandbox_namespace: str) -> None:
    examples = _flux_examples()
    assert {doc["kind"] for doc in examples} >= {"GitRepository", "Kustomization", "HelmRelease", "Canary"}
    for doc in examples:
        doc["metadata"]["namespace"] = sandbox_namespace
    sandbox.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(examples))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"bogus": 1}, 'unknown field "spec.bogus"'),
        ({"interval": "1d"}, "spec.interval in body should match"),
        ({"prune": "yes"}, "spec.prune in body must be of type boolean"),
        ({"deletionPolicy": "Never"}, 'spec.deletionPolicy: Unsupported value: "Never"'),
    ],
)
def test_real_kubectl_refuses_what_flux_refuses(
    sandbox: Sandbox, sandbox_namespace: str, spec: dict, expected: str
) -> None:
    manifest = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": sandbox_namespace},
        "spec": {
            "interval": "10m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "x"},
            **spec,
        },
    }
    with pytest.raises(SandboxError, match=expected):
        sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
