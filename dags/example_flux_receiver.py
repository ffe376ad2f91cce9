"""Run on a Git push: a Flux Receiver in the API server turns the webhook into an asset event.

Put this Receiver (the seed's, plus nothing) in the folder named by ``[flux] receivers_path``
and create the Airflow connection ``webhook-token`` whose password is the token::

    apiVersion: notification.toolkit.fluxcd.io/v1
    kind: Receiver
    metadata: {name: model-update-webhook, namespace: flux-system}
    spec:
      type: generic
      secretRef: {name: webhook-token}
      resources:
        - {apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, name: ml-gitops}

A POST to ``<api-server>/flux/hook/<sha256(token + name + namespace)>`` then records an
event on the asset ``flux://flux-system/GitRepository/ml-gitops`` and this DAG runs with the
webhook's body in the event's extra. A failed run is reported to Slack (connection
``slack-webhook``: host = the incoming-webhook URL).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from airflow_flux_provider.assets import flux_asset
from airflow_flux_provider.notifiers import SlackNotifier

ML_GITOPS = flux_asset(
    "GitRepository", "flux-system", "ml-gitops"
)  # flux://flux-system/GitRepository/ml-gitops


@dag(
    dag_id="example_flux_receiver",
    schedule=[ML_GITOPS],
    catchup=False,
    tags=["flux", "example"],
    doc_md=__doc__,
    on_failure_callback=SlackNotifier(conn_id="slack-webhook", channel="ml-deployments"),
)
def example_flux_receiver() -> None:
    @task
    def pushed_revision(triggering_asset_events: Any = None) -> dict[str, str]:
        """What the webhook said: which receiver, and the pushed commit if the sender named it."""
        events = list((triggering_asset_events or {}).get(ML_GITOPS, []))
        extra = dict(events[-1].extra) if events else {}
        payload = extra.get("payload")
        after = payload.get("after", "") if isinstance(payload, dict) else ""
        return {"receiver": str(extra.get("receiver", "")), "after": str(after)}

    pushed_revision()


example_flux_receiver()
