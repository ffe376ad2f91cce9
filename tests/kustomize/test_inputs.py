"""Which files a Kustomization reads: a change to one of them changes its digest, others do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.kustomize import RenderStore, render
from airflow_flux_provider.kustomize.inputs import inputs_digest
from tests.kustomize.conftest import kustomization, write_tree
from tests.kustomize.corpus import CONFIG, DEPLOY

OVERLAY = """\
resources: [../../base]
components: [../../components/debug]
patches:
- path: replicas.yaml
configMapGenerator:
- name: settings
  files: [app.conf=../../shared/app.conf]
"""
COMPONENT = """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources: [cm.yaml]
"""
PATCH = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two apps sharing a base; app-a also reads a component, a patch and a generator file."""
    return write_tree(
        tmp_path / "repo",
        {
            "base/kustomization.yaml": "resources: [deploy.yaml]\n",
            "base/deploy.yaml": DEPLOY,
            "components/debug/kustomization.yaml": COMPONENT,
            "components/debug/cm.yaml": CONFIG,
            "components/unused/kustomization.yaml": COMPONENT,
            "components/unused/cm.yaml": CONFIG,
            "shared/app.conf": "level=info\n",
            "shared/other.conf": "level=info\n",
            "apps/a/kustomization.yaml": OVERLAY,
            "apps/a/replicas.yaml": PATCH,
            "apps/b/kustomization.yaml": "resources: [../../base]\n",
            "apps/c/cm.yaml": CONFIG,
            "README.md": "the repository\n",
        },
    )


@pytest.mark.parametrize(
    ("changed", "a_changes"),
    [
        ("apps/a/replicas.yaml", True),  # a patch file
        ("apps/a/new.yaml", True),  # anything new under the path
        ("base/deploy.yaml", True),  # a base's resource
        ("components/debug/cm.yaml", True),  # a component's resource
        ("shared/app.conf", True),  # a generator file named as key=path
        ("apps/b/kustomization.yaml", False),  # another app
        ("apps/c/cm.yaml", False),
        ("components/unused/cm.yaml", False),
        ("shared/other.conf", False),
        ("README.md", False),
    ],
)
def test_a_commit_changes_the_digest_of_the_kustomizations_that_read_it(
    repo: Path, changed: str, a_changes: bool
) -> None:
    before = inputs_digest(repo, "./apps/a")
    assert before is not None
    write_tree(repo, {changed: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: changed}\n"})
    assert (inputs_digest(repo, "./apps/a") != before) is a_changes


def test_spec_components_and_a_generated_kustomization_are_read(repo: Path) -> None:
    before_c = inputs_digest(repo, "./apps/c", ["../../components/unused"])
    before_plain = inputs_digest(repo, "./apps/c")
    write_tree(repo, {"components/unused/cm.yaml": CONFIG.replace("settings", "renamed")})
    assert inputs_digest(repo, "./apps/c", ["../../components/unused"]) != before_c
    assert inputs_digest(repo, "./apps/c") == before_plain


@pytest.mark.parametrize(
    "kustomization_text",
    [
        "resources: [https://github.com/org/repo//deploy?ref=v1]\n",
        "resources: [git@github.com:org/repo.git]\n",
        "helmCharts:\n- name: podinfo\n  repo: https://stefanprodan.github.io/podinfo\n",
    ],
)
def test_inputs_fetched_from_elsewhere_are_unknown(tmp_path: Path, kustomization_text: str) -> None:
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": kustomization_text})
    assert inputs_digest(repo, "./app") is None


def test_a_link_leaving_the_source_makes_the_inputs_unknown(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"cm.yaml": CONFIG})
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": "resources: [cm.yaml]\n"})
    (repo / "app" / "cm.yaml").symlink_to(outside / "cm.yaml")
    assert inputs_digest(repo, "./app") is None


def test_aliases_in_a_kustomization_file_are_not_expanded(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": bomb})
    assert inputs_digest(repo, "./app") is not None


def test_a_commit_to_another_app_reuses_the_render(
    repo: Path, store: RenderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks = kustomization(path="./apps/b")
    first = render(ks, repo, store=store, source_digest="sha256:" + "1" * 64)
    write_tree(repo, {"apps/a/replicas.yaml": PATCH.replace("3", "5")})
    monkeypatch.setenv("AIRFLOW__FLUX__KUBECTL_PATH", str(repo / "no-kubectl"))  # kustomize would fail
    again = render(ks, repo, store=store, source_digest="sha256:" + "2" * 64)
    assert again.cached and again.digest == first.digest
    monkeypatch.delenv("AIRFLOW__FLUX__KUBECTL_PATH")
    write_tree(repo, {"base/deploy.yaml": DEPLOY.replace("replicas: 1", "replicas: 2")})
    changed = render(ks, repo, store=store, source_digest="sha256:" + "3" * 64)
    assert not changed.cached and changed.digest != first.digest
