"""fluxcd/flux2 ``cmd/flux`` build-kustomization golden files (TestBuildKustomization,
TestBuildLocalKustomization, TestBuildKustomizationPathNormalization), through our ``build``.

The inputs and golden outputs under ``flux2_build/`` are upstream's testdata, run with the
flux CLI's arguments (``--path <folder>`` is the folder built, whatever ``spec.path`` says)
and ``--source-root`` naming the testdata folder (the flux CLI reads the disk; we build in a
mirror of the source root, which is the current directory by default); the
``{{ .fluxns }}`` namespace is ``flux-system``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.cli import main

DATA = Path(__file__).parent / "flux2_build"
NAMESPACE = "flux-system"
# testdata/build-kustomization/podinfo-kustomization.yaml (--path takes the place of spec.path).
PODINFO = f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: {NAMESPACE}
spec:
  interval: 5m0s
  path: ./kustomize
  force: true
  prune: true
  sourceRef:
    kind: GitRepository
    name: podinfo
  targetNamespace: default
  postBuild:
    substitute:
      cluster_env: "prod"
      cluster_region: "eu-central-1"
"""
CASES = [
    ("build podinfo", "podinfo", [], "podinfo-result.yaml"),
    ("build podinfo without service", "delete-service", [], "podinfo-without-service-result.yaml"),
    (
        "build deployment and configmap with var substitution",
        "var-substitution",
        [],
        "podinfo-with-var-substitution-result.yaml",
    ),
    (
        "build ignore",
        "ignore",
        ["--ignore-paths", "!configmap.yaml,!secret.yaml"],
        "podinfo-with-ignore-result.yaml",
    ),
    (
        "build with recursive",
        "podinfo-with-my-app",
        ["--recursive", "--local-sources", f"GitRepository/default/podinfo={DATA}"],
        "podinfo-with-my-app-result.yaml",
    ),
    ("build with complex relative path (parent dir)", "../flux2_build/podinfo", [], "podinfo-result.yaml"),
    ("build with path containing redundant separators", ".//podinfo", [], "podinfo-result.yaml"),
]


def build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str, *extra: str
) -> tuple[int, str, str]:
    spec = tmp_path / "podinfo.yaml"
    spec.write_text(PODINFO)
    code = main(["build", "-f", str(spec), "--path", f"{DATA}/{folder}", "--source-root", str(DATA), *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("case", "folder", "extra", "golden"), CASES, ids=[c[0] for c in CASES])
def test_build_kustomization(
    case: str, folder: str, extra: list[str], golden: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = build(tmp_path, capsys, folder, *extra)
    assert code == 0, err
    assert out == (DATA / golden).read_text().replace("{{ .fluxns }}", NAMESPACE)


def test_build_leaves_the_source_folder_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in DATA.rglob("*") if p.is_file()}
    assert build(tmp_path, capsys, "podinfo")[0] == 0
    assert {p: p.read_bytes() for p in DATA.rglob("*") if p.is_file()} == before


def test_recursive_without_a_local_source_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = build(tmp_path, capsys, "podinfo-with-my-app", "--recursive")
    assert code == 1
    assert "pass --local-sources GitRepository/default/podinfo=./folder" in err
