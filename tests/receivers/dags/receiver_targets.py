"""DAGs the receiver tests trigger: one by DAG id, one scheduled on a Flux source's asset."""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

ML_GITOPS = Asset("flux://flux-system/GitRepository/ml-gitops")


@dag(dag_id="flux_receiver_target", schedule=None, catchup=False)
def flux_receiver_target() -> None:
    @task
    def reconcile() -> None:
        print("reconcile requested")

    reconcile()


@dag(dag_id="flux_asset_consumer", schedule=[ML_GITOPS], catchup=False)
def flux_asset_consumer() -> None:
    @task
    def deploy() -> None:
        print("source changed")

    deploy()


flux_receiver_target()
flux_asset_consumer()
