"""Planning a folder of Flux objects: dependency order and the errors Flux users hit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from airflow_flux_provider.cluster_plan import PlanError, plan_folder
from airflow_flux_provider.errors import FluxError

SEED_CLUSTER = Path(__file__).resolve().parent.parent / "devkit/flux_devkit/demo/gitops/clusters/production"
SOURCE = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: flux-system}
spec: {interval: 1m, url: https://example.com/repo, ref: {branch: main}}
"""


def _kustomization(name: str, depends: list[str], interval: str = "10m", source: str = "repo") -> str:
    deps = ", ".join(f"{{name: {d}}}" for d in depends)
    return f"""
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: {interval}
  prune: true
  path: ./{name}
  sourceRef: {{kind: GitRepository, name: {source}}}
  dependsOn: [{deps}]
"""


ALIAS_BOMB = "spec:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
BAD_FOLDERS: list[tuple[str, dict[str, str | bytes], str]] = [
    ("empty", {}, r"no YAML files in .*; point at a folder such as clusters/production"),
    ("bad-yaml", {"bad.yaml": "kind: [unclosed\n"}, r"bad\.yaml.*YAML syntax error"),
    ("not-utf8", {"latin.yaml": "name: caf\xe9\n".encode("latin-1")}, r"cannot read .*latin\.yaml.*UTF-8"),
    ("duplicate-key", {"dup.yaml": SOURCE + "spec: {}\n"}, r"dup\.yaml.*duplicate key 'spec'"),
    ("alias-bomb", {"bomb.yaml": SOURCE + "---\n" + ALIAS_BOMB}, r"bomb\.yaml.*excessive aliasing"),
    (
        "cycle",
        {"all.yaml": SOURCE + _kustomization("a", ["b"]) + _kustomization("b", ["a"])},
        r"cycle: Kustomization/flux-system/a -> Kustomization/flux-system/b -> ",
    ),
    (
        "unknown-dependency",
        {"a.yaml": SOURCE + _kustomization("a", ["missing"])},
        r"Kustomization/flux-system/a field spec.dependsOn: .*flux-system/missing",
    ),
    (
        "unknown-source",
        {"a.yaml": SOURCE + _kustomization("a", [], source="other")},
        r"field spec.sourceRef: .*GitRepository/flux-system/other",
    ),
]


@pytest.mark.parametrize(("files", "message"), [c[1:] for c in BAD_FOLDERS], ids=[c[0] for c in BAD_FOLDERS])
def test_a_folder_that_cannot_be_planned_is_an_error_naming_what_to_fix(
    tmp_path: Path, files: dict[str, str | bytes], message: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(FluxError, match=message):
        plan_folder(tmp_path)


def test_seed_cluster_orders_infrastructure_first():
    plan = plan_folder(SEED_CLUSTER)
    names = [k.name for k in plan.kustomizations]
    assert names.index("ml-infrastructure") < names.index("ml-training")
    assert names.index("ml-infrastructure") < names.index("ml-serving")
    assert [s.ref for s in plan.sources] == ["GitRepository/flux-system/ml-gitops"]
    assert {o.kind for o in plan.image_objects} == {"ImageRepository", "ImagePolicy", "ImageUpdateAutomation"}
    assert plan.interval == timedelta(minutes=5)


def test_dependencies_come_first_whatever_the_file_order(tmp_path):
    (tmp_path / "all.yaml").write_text(
        SOURCE
        + _kustomization("apps", ["infra", "crds"])
        + _kustomization("infra", ["crds"])
        + _kustomization("crds", [], interval="1h")
    )
    assert [k.name for k in plan_folder(tmp_path).kustomizations] == ["crds", "infra", "apps"]


def test_subset_keeps_dependencies_and_their_sources():
    plan = plan_folder(SEED_CLUSTER).subset(["ml-training-pipeline"])
    assert [k.name for k in plan.kustomizations] == ["ml-infrastructure", "ml-training-pipeline"]
    assert [s.name for s in plan.sources] == ["ml-gitops"]
    assert plan.image_objects == []
    with pytest.raises(PlanError, match="no Kustomization named nope"):
        plan_folder(SEED_CLUSTER).subset(["nope"])


OCI_SOURCE = """
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: charts, namespace: flux-system}
spec: {interval: 1m, url: oci://registry.example.com/charts/web, ref: {tag: 1.0.0}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: web, namespace: flux-system}
spec: {interval: 1m, chart: ./charts/web, sourceRef: {kind: GitRepository, name: repo}}
"""


def _release(chart: str) -> str:
    return f"""
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: web, namespace: apps}}
spec:
  interval: 5m
  {chart}
"""


@pytest.mark.parametrize(
    ("chart", "source", "helm_chart"),
    [
        (
            "chart: {spec: {chart: web, sourceRef: {kind: GitRepository, namespace: flux-system, "
            "name: repo}}}",
            "GitRepository/flux-system/repo",
            "HelmChart/flux-system/apps-web",  # Flux's name, beside the source
        ),
        (
            "chartRef: {kind: OCIRepository, name: charts, namespace: flux-system}",
            "OCIRepository/flux-system/charts",
            None,  # the OCIRepository's artifact is the chart
        ),
        (
            "chartRef: {kind: HelmChart, name: web, namespace: flux-system}",
            "GitRepository/flux-system/repo",
            "HelmChart/flux-system/web",
        ),
    ],
)
def test_a_release_finds_its_chart_and_source(tmp_path, chart, source, helm_chart):
    (tmp_path / "all.yaml").write_text(SOURCE + OCI_SOURCE + _release(chart))
    plan = plan_folder(tmp_path)
    [release] = plan.helm_releases
    assert plan.chart_source_of(release).ref == source
    found = plan.chart_of(release)
    assert (found.ref if found else None) == helm_chart


@pytest.mark.parametrize(
    ("chart", "message"),
    [
        (
            "chartRef: {kind: OCIRepository, name: absent}",
            r"chartRef names OCIRepository/apps/absent, which is not",
        ),
        ("chartRef: {kind: HelmChart, name: absent}", r"chartRef names HelmChart/apps/absent, which is not"),
        ("chartRef: {kind: ExternalArtifact, name: x}", r"chartRef kind 'ExternalArtifact' is not supported"),
    ],
)
def test_a_release_chart_that_is_not_in_the_folder_is_named(tmp_path, chart, message):
    (tmp_path / "all.yaml").write_text(SOURCE + OCI_SOURCE + _release(chart))
    with pytest.raises(PlanError, match=message):
        plan_folder(tmp_path)
