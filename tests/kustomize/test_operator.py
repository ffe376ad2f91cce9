"""KustomizationRenderOperator: variables gathered from the Airflow context, XCom for the reconcile task."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.operators.kustomize import KustomizationRenderOperator
from tests.kustomize.conftest import write_tree
from tests.kustomize.corpus import CONFIG

TEMPLATE = CONFIG.replace(
    "mode: fast", "a: ${A}\n  b: ${B}\n  c: ${C}\n  d: ${D}\n  e: ${E}\n  f: ${F:=spec-default}"
)
SPEC = {
    "interval": "5m",
    "prune": True,
    "sourceRef": {"kind": "GitRepository", "name": "repo"},
    "path": "./app",
    "postBuild": {"substitute": {"D": "inline", "E": "pa$$word ${HOME}"}},
}


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))
    monkeypatch.setenv("AIRFLOW_VAR_A", "variable")
    monkeypatch.setenv("AIRFLOW_VAR_B", "variable")
    return write_tree(tmp_path / "src", {"app/cm.yaml": TEMPLATE})


def run(op: KustomizationRenderOperator, params: dict, conf: dict) -> dict:
    return op.execute({"params": params, "dag_run": SimpleNamespace(conf=conf)})


def test_precedence_variables_params_conf_operator_inline(source: Path, tmp_path: Path) -> None:
    op = KustomizationRenderOperator(
        task_id="render",
        name="render",
        spec=SPEC,
        source_path=str(source),
        airflow_variables=["A", "B"],
        variables={"C": "operator"},
    )
    xcom = run(op, params={"B": "param", "C": "param", "D": "param", "not a var": 1}, conf={"C": "conf"})
    data = yaml.safe_load(Path(xcom["path"]).read_text())["data"]
    assert data == {
        "a": "variable",
        "b": "param",
        "c": "operator",
        "d": "inline",
        "e": "pa$$word ${HOME}",  # inline values are inserted as written, as Flux does
        "f": "spec-default",
    }
    assert xcom["objects"] == 1 and xcom["kinds"] == {"ConfigMap": 1}
    assert xcom["path"].startswith(str(tmp_path / "artifacts" / "renders"))

    xcom = run(op, params={}, conf={"B": "conf", "E": "conf", "F": "from-trigger"})
    data = yaml.safe_load(Path(xcom["path"]).read_text())["data"]
    assert data["b"] == "conf" and data["e"] == "pa$$word ${HOME}" and data["f"] == "from-trigger"
    assert not xcom["cached"]
    assert run(op, params={}, conf={"B": "conf", "E": "conf", "F": "from-trigger"})["cached"]


def test_missing_airflow_variable_is_named(source: Path) -> None:
    op = KustomizationRenderOperator(
        task_id="render", name="render", spec=SPEC, source_path=str(source), airflow_variables=["NOPE"]
    )
    with pytest.raises(FluxError, match="Airflow Variable 'NOPE' does not exist"):
        run(op, params={}, conf={})


def test_manifest_of_another_kind_is_refused(source: Path) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(FluxError, match="acts on a Kustomization, got ConfigMap/default/x"):  # when built
        KustomizationRenderOperator(task_id="render", manifest=manifest, source_path=str(source))


def test_source_artifact_from_the_shared_store_is_unpacked_once(source: Path, tmp_path: Path) -> None:
    from airflow_flux_provider.operators.sources import artifact_store

    artifact = artifact_store().put_directory(
        source, source="GitRepository/flux-system/repo", revision="main@sha1:1"
    )
    op = KustomizationRenderOperator(
        task_id="render", name="render", spec=SPEC, source_artifact=artifact.to_xcom()
    )
    conf = {"A": "a", "B": "b", "C": "c"}
    first = run(op, params={}, conf=conf)
    assert yaml.safe_load(Path(first["path"]).read_text())["data"]["a"] == "a"
    assert run(op, params={}, conf=conf)["cached"]


def test_render_tasks_racing_to_unpack_one_artifact_both_render(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_flux_provider.operators.sources import artifact_store
    from airflow_flux_provider.sources import artifacts

    artifact = artifact_store().put_directory(
        source, source="GitRepository/flux-system/repo", revision="main@sha1:2"
    )
    real_unpack = artifacts.unpack
    folders: list[Path] = []

    def unpack_while_the_other_task_finishes(data: bytes, staging: Path, **kwargs: object) -> None:
        real_unpack(data, staging, **kwargs)  # type: ignore[arg-type]
        folders.append(staging.parent / artifact.digest.replace(":", "-"))
        real_unpack(data, folders[-1], **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(artifacts, "unpack", unpack_while_the_other_task_finishes)
    op = KustomizationRenderOperator(
        task_id="render", name="render", spec=SPEC, source_artifact=artifact.to_xcom()
    )
    rendered = run(op, params={}, conf={"A": "a", "B": "b", "C": "c"})
    assert folders and yaml.safe_load(Path(rendered["path"]).read_text())["data"]["a"] == "a"


def test_exactly_one_source_is_required() -> None:
    with pytest.raises(FluxError, match="give exactly one of source_path="):
        KustomizationRenderOperator(task_id="render", name="render", spec=SPEC)
