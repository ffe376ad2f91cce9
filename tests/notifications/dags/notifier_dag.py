"""A DAG whose tasks report through the Flux notifiers (used by test_airflow_callbacks)."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_flux_provider.notifiers import GenericHmacNotifier, GenericWebhookNotifier

with DAG("flux_notifier_test", schedule=None, catchup=False) as dag:

    @task(
        retries=0,
        on_failure_callback=GenericWebhookNotifier(
            conn_id="flux_test_hook", summary="nightly training", event_metadata={"team": "ml"}
        ),
    )
    def train() -> None:
        raise ValueError("accuracy 0.41 below 0.80")

    @task(on_success_callback=GenericHmacNotifier(conn_id="flux_test_hmac"))
    def prepare() -> None:
        print("data ready")

    prepare()
    train()
