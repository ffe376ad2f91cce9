"""The hello DAG parses without errors and runs end to end with ``dag.test()``."""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "example_flux_hello.py"


def test_hello_dag_runs_and_reports_the_source(airflow_home: Path) -> None:
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.dags["example_flux_hello"]
    assert {t.task_id for t in dag.tasks} == {"describe_source", "announce"}

    run = dag.test()
    assert run.state == "success"
    announce = next(ti for ti in run.get_task_instances() if ti.task_id == "announce")
    assert announce.state == "success"
    assert announce.xcom_pull(task_ids="announce") == (
        "GitRepository/flux-system/podinfo would fetch https://github.com/stefanprodan/podinfo"
    )
