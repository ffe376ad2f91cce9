"""The seed's ml-gitops layout renders as Flux would render it, from the CLI and the library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from airflow_flux_provider.kustomize import RenderStore, SubstitutionError, fill_placeholders, render
from airflow_flux_provider.specs import Kustomization, load_manifests, parse_object

SEED = Path(__file__).parent / "seed"


def seed_kustomization(file: str) -> Kustomization:
    (obj,) = load_manifests(SEED / file)
    assert isinstance(obj, Kustomization)
    return obj


def objects(text: str) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(text) if d}


def test_production_apps_overlay(store: RenderStore) -> None:
    rendered = render(seed_kustomization("clusters/production/apps.yaml"), SEED, store=store)
    docs = objects(rendered.read())
    deploy = docs["Deployment/ml-trainer"]
    assert deploy["metadata"]["namespace"] == "ml-training-prod"
    assert deploy["spec"]["replicas"] == 5
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ml-trainer:v1.2.3"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "CLUSTER_NAME": "production",
        "AWS_REGION": "us-west-2",
    }
    assert deploy["metadata"]["labels"] == {"app": "ml-training", "managed-by": "flux"}
    config = next(name for name in docs if name.startswith("ConfigMap/ml-config-"))
    assert docs[config]["metadata"]["name"] in container_volumes(deploy)
    assert docs["ConfigMap/ml-trainer-monitoring"]["data"]["cluster"] == "production"
    assert rendered.kinds == {
        "ConfigMap": 2,
        "Deployment": 1,
        "HorizontalPodAutoscaler": 1,
        "Namespace": 1,
        "PodDisruptionBudget": 1,
        "Secret": 1,
        "Service": 1,
        "ServiceAccount": 1,
    }


def container_volumes(deploy: dict) -> set[str]:
    return {v["configMap"]["name"] for v in deploy["spec"]["template"]["spec"]["volumes"]}


def test_infrastructure(store: RenderStore) -> None:
    rendered = render(seed_kustomization("clusters/production/infrastructure.yaml"), SEED, store=store)
    docs = objects(rendered.read())
    assert docs["Namespace/ml-system"]["metadata"]["labels"] == {
        "cluster": "production",
        "region": "us-west-2",
    }
    assert docs["Deployment/ml-controller"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--cluster=production"
    ]


def test_training_pipeline_takes_trigger_values_over_spec_defaults(store: RenderStore) -> None:
    """The placeholders of ml-training-pipeline are filled at the parent level (as a substituting
    parent Kustomization fills them in Flux); the build then inserts the values literally."""
    (raw,) = yaml.safe_load_all((SEED / "pipelines/training-automation.yaml").read_text())

    def parent(values: dict[str, str]) -> Kustomization:
        obj = parse_object(fill_placeholders(raw, values, obj="parent", source="-"))
        assert isinstance(obj, Kustomization)
        return obj

    with pytest.raises(SubstitutionError, match=r"placeholder \$\{EXPERIMENT_ID\} has no value"):
        parent({})  # the patch's bare ${EXPERIMENT_ID} needs a value, as a strict parent requires
    defaults = objects(render(parent({"EXPERIMENT_ID": "baseline"}), SEED, store=store).read())
    assert defaults["Job/train-baseline"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--learning-rate=0.001",
        "--batch-size=32",
        "--epochs=100",
    ]
    triggered = objects(render(parent({"EXPERIMENT_ID": "exp42", "EPOCHS": "3"}), SEED, store=store).read())
    job = triggered["Job/train-exp42"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][2] == "--epochs=3"
    assert (
        triggered["Kustomization/training-experiment"]["spec"]["path"]
        == "./pipelines/training/experiments/exp42"
    )
    # Without the parent level the placeholder is a literal value, as in Flux.
    literal = render(seed_kustomization("pipelines/training-automation.yaml"), SEED, store=store).read()
    assert "name: train-${EXPERIMENT_ID:-default}" in literal


def test_cli_build_prints_the_render(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_flux_provider",
            "build",
            "-f",
            str(SEED / "pipelines/training-automation.yaml"),
            "--path",
            str(SEED / "pipelines/training"),
            "--source-root",
            str(SEED),
            "--var",
            "EXPERIMENT_ID=cli",
            "--store",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Job/train-cli" in objects(done.stdout) or "name: train-cli" in done.stdout
    assert list(tmp_path.glob("sha256/*.yaml"))


def test_cli_bad_input_exits_1_with_the_message(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_flux_provider",
            "build",
            "-f",
            str(SEED / "clusters/production/apps.yaml"),
            "--path",
            str(tmp_path / "apps/ml-training/overlays/production"),
            "--source-root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        "Kustomization/flux-system/ml-training field spec.path: kustomization path not found" in done.stderr
    )
    assert "Traceback" not in done.stderr
