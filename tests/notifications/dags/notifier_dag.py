"""A DAG whose tasks report through the Flux notifiers and emit a reconcile event (test_airflow_callbacks)."""

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

    @task
    def reconcile() -> None:
        """Emits what the reconcile operator reports after applying a revision."""
        from airflow_flux_provider.events import Event, ObjectReference, emit

        source = ObjectReference(
            "Kustomization", "ml-serving", "flux-system", "kustomize.toolkit.fluxcd.io/v1"
        )
        emit(Event(source, "info", "ReconciliationSucceeded", "Applied revision: main@sha1:1234"))

    prepare()
    train()
    reconcile()
