"""The receiver example DAG parses and listens on the asset the seed's Receiver names."""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

from airflow_flux_provider.assets import flux_asset_uri

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "example_flux_receiver.py"


def test_example_dag_is_scheduled_on_the_receivers_asset(airflow_home: Path) -> None:
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.dags["example_flux_receiver"]
    uris = {asset.uri for asset in dag.timetable.asset_condition.objects}
    assert uris == {flux_asset_uri("GitRepository", "flux-system", "ml-gitops")}
    assert dag.on_failure_callback is not None
