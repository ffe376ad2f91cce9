"""Every YAML example of the seed document loads (blocks are extracted from the seed, not copied)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import yaml

from airflow_flux_provider.specs import (
    Alert,
    Bucket,
    Canary,
    GitRepository,
    HelmRelease,
    HelmRepository,
    ImagePolicy,
    ImageRepository,
    ImageUpdateAutomation,
    KubernetesObject,
    Kustomization,
    Provider,
    Receiver,
    load_manifests,
    parse_object,
)
from tests.seed import SEED_DIR, yaml_blocks

BLOCKS = yaml_blocks()
OBJECT_BLOCKS = [b for b in BLOCKS if re.search(r"^kind:", b, flags=re.M)]
FRAGMENT_BLOCKS = [b for b in BLOCKS if b not in OBJECT_BLOCKS]


def test_seed_has_examples() -> None:
    assert len(BLOCKS) >= 20, f"expected the seed's YAML examples in {SEED_DIR}"
    assert FRAGMENT_BLOCKS, "the seed also has spec fragments (intervals, health checks)"


@pytest.mark.parametrize("block", OBJECT_BLOCKS, ids=lambda b: b.splitlines()[0][:60])
def test_every_seed_object_loads_and_round_trips(block: str) -> None:
    objects = load_manifests(block)
    raw = [d for d in yaml.safe_load_all(block) if d]
    assert [o.kind for o in objects] == [d["kind"] for d in raw]
    for obj, data in zip(objects, raw, strict=True):
        assert obj.api_version == data["apiVersion"]
        if isinstance(obj, KubernetesObject):
            assert obj.to_manifest() == data
        else:
            assert obj.metadata.name == data["metadata"]["name"]
            assert parse_object(obj.to_manifest()) == obj


def test_seed_covers_every_flux_kind_it_uses() -> None:
    kinds = {type(o) for block in OBJECT_BLOCKS for o in load_manifests(block)}
    assert {
        GitRepository, HelmRepository, Bucket, Kustomization, HelmRelease, ImageRepository, ImagePolicy,
        ImageUpdateAutomation, Alert, Provider, Canary, Receiver, KubernetesObject,
    } <= kinds  # fmt: skip


@pytest.mark.parametrize("block", FRAGMENT_BLOCKS, ids=lambda b: b.splitlines()[1][:40])
def test_seed_spec_fragments_are_valid_kustomization_fields(block: str) -> None:
    fragment = yaml.safe_load(block)["spec"]
    spec = {"interval": "10m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    obj = parse_object(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "fragment"},
            "spec": {**spec, **fragment},
        }
    )
    assert isinstance(obj, Kustomization)
    for field in fragment:
        assert field in obj.to_manifest()["spec"]


def test_seed_values_are_typed() -> None:
    by_ref = {o.ref: o for block in OBJECT_BLOCKS for o in load_manifests(block)}
    git = by_ref["GitRepository/flux-system/ml-gitops"]
    assert isinstance(git, GitRepository)
    assert git.spec.interval == timedelta(minutes=1)
    assert git.spec.ref.branch == "main"
    assert git.spec.secret_ref is not None and git.spec.secret_ref.name == "git-credentials"
    assert git.spec.ignore is not None and "/**/README.md" in git.spec.ignore

    release = by_ref["HelmRelease/mlflow/mlflow"]
    assert isinstance(release, HelmRelease) and release.version == "v2beta1"
    assert release.spec.chart is not None
    assert release.spec.chart.spec.version == "0.7.19"
    assert release.spec.chart.spec.source_ref.namespace == "flux-system"
    assert release.spec.values["postgresql"]["auth"]["username"] == "mlflow"
    assert release.spec.upgrade.remediation.retries == 3
    assert release.spec.upgrade.remediation.remediate_last_failure is True
    assert release.spec.test.enable is True
    patch = release.spec.post_renderers[0].kustomize.patches[0]  # type: ignore[union-attr]
    assert patch.target is not None and patch.target.kind == "Deployment"

    automation = by_ref["ImageUpdateAutomation/flux-system/ml-training"]
    assert isinstance(automation, ImageUpdateAutomation)
    assert automation.legacy_template_data is True
    git_spec = automation.spec.git
    assert git_spec is not None and git_spec.commit.author.email == "fluxcdbot@company.com"
    assert "{{ range .Updated.Images -}}" in (git_spec.commit.message_template or "")

    canary = by_ref["Canary/ml-serving/ml-serving"]
    assert isinstance(canary, Canary) and canary.spec.analysis is not None
    hooks = {h.name: h for h in canary.spec.analysis.webhooks}
    assert hooks["load-test"].timeout == timedelta(seconds=5)
    assert hooks["load-test"].type == "rollout"
    assert hooks["notify-slack"].type == "post-rollout"
    assert canary.spec.analysis.metrics[0].threshold_range is not None
    assert canary.spec.analysis.metrics[0].threshold_range.min == 99

    pipeline = by_ref["Kustomization/flux-system/ml-training-pipeline"]
    assert isinstance(pipeline, Kustomization) and pipeline.spec.post_build is not None
    assert pipeline.spec.post_build.substitute["EXPERIMENT_ID"] == "${EXPERIMENT_ID:-default}"
