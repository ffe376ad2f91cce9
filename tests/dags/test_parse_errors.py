"""Mistakes in a DAG file's Flux objects surface where the DAG is parsed: the DAG processor lists
an import error naming the object and the field, instead of a run failing later."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.operators.canary import CanaryAnalysisOperator
from airflow_flux_provider.operators.sources import GitRepositoryOperator

GIT_SPEC = {"url": "https://git.example.com/fleet.git", "interval": "1m", "ref": {"branch": "main"}}
CANARY = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "web", "namespace": "apps"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "service": {"port": 80},
        "analysis": {"interval": "ten seconds", "threshold": 2, "stepWeight": 50},
    },
}
DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_flux_provider.operators.canary import CanaryAnalysisOperator

with DAG(dag_id="bad_canary", start_date=datetime(2026, 1, 1), schedule=None):
    CanaryAnalysisOperator(task_id="canary_web", manifest={manifest!r})
"""


def test_a_bad_manifest_is_an_import_error_naming_object_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad_canary.py").write_text(DAG_FILE.format(manifest=CANARY))
    bag = DagBag(dag_folder=str(tmp_path))
    (error,) = bag.import_errors.values()
    assert "Canary/apps/web" in error and "spec.analysis.interval" in error and "'ten seconds'" in error
    assert "bad_canary" not in bag.dag_ids


def test_the_object_name_never_comes_from_the_task_id() -> None:
    with pytest.raises(FluxError, match=r"spec= needs name=, the GitRepository.s metadata\.name"):
        GitRepositoryOperator(task_id="fetch_fleet", spec=GIT_SPEC)
    fetch = GitRepositoryOperator(task_id="fetch_fleet", spec=GIT_SPEC, name="fleet")
    assert fetch.flux_object().ref == "GitRepository/flux-system/fleet"


def test_a_manifest_of_another_kind_is_refused_when_built() -> None:
    manifest = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "fleet", "namespace": "flux-system"}, "spec": GIT_SPEC}  # fmt: skip
    with pytest.raises(
        FluxError, match="CanaryAnalysisOperator acts on a Canary, got GitRepository/flux-system/fleet"
    ):
        CanaryAnalysisOperator(task_id="canary", manifest=manifest)


def test_a_manifest_known_only_after_templating_is_checked_when_the_task_runs() -> None:
    templated = {
        **CANARY,
        "spec": {**CANARY["spec"], "analysis": {"interval": "{{ params.CANARY_INTERVAL }}"}},
    }
    task = CanaryAnalysisOperator(task_id="canary", manifest=templated)  # built: nothing to check yet
    with pytest.raises(FluxError, match=r"spec\.analysis\.interval"):
        task.flux_object()  # what execute() does after templating left the placeholder as it is
    CanaryAnalysisOperator(task_id="from_file", manifest="canary.yaml")
