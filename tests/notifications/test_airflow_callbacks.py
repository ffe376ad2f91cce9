"""Notifiers as task callbacks and the task-state listener, in a real ``dag.test()`` run."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_flux_provider.notifications import NotificationError
from airflow_flux_provider.notifiers import notification_provider
from airflow_flux_provider.plugins import task_events
from tests.notifications.capture import Captured, CaptureServer

HMAC_KEY = "callback-hmac-key"
DAGS = Path(__file__).parent / "dags"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
SEED_ALERT = """
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Alert
metadata: {name: model-deployment, namespace: flux-system}
spec:
  providerRef: {name: slack}
  eventSeverity: info
  eventSources:
    - kind: Kustomization
      name: ml-serving
  summary: "Model deployment status"
---
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Provider
metadata: {name: slack, namespace: flux-system}
spec:
  type: slack
  channel: ml-deployments
  secretRef: {name: slack-webhook}
"""


def _conn(host: str, password: str | None = None) -> str:
    return json.dumps({"conn_type": "flux_notification", "host": host, "password": password})


@pytest.fixture(scope="module")
def dag_run_requests(
    airflow_home: Path, capture_server: CaptureServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Captured]]:
    from airflow.sdk.listener import get_listener_manager  # the task runner's listeners

    notifications = tmp_path_factory.mktemp("notifications")
    (notifications / "alerts.yaml").write_text(SEED_ALERT)
    env = {
        "AIRFLOW_CONN_FLUX_TEST_HOOK": _conn(f"{capture_server.url}/notifier"),
        "AIRFLOW_CONN_FLUX_TEST_HMAC": _conn(f"{capture_server.url}/hmac", HMAC_KEY),
        "AIRFLOW_CONN_FLUX_TEST_LISTENER": _conn(f"{capture_server.url}/listener"),
        "AIRFLOW__FLUX__TASK_EVENTS_CONN_ID": "flux_test_listener",
        "AIRFLOW__FLUX__TASK_EVENTS_SEVERITY": "info",
        "AIRFLOW__FLUX__TASK_EVENTS_DAGS": "flux_notifier_test",
        "AIRFLOW__FLUX__NOTIFICATIONS_PATH": str(notifications),
        "AIRFLOW_CONN_SLACK-WEBHOOK": _conn(f"{capture_server.url}/slack-hook"),
        # dag.test() serializes the DAG from a bundle: add this folder next to the default one
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                {"name": "flux-notifier-tests", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(DAGS)}},
            ]
        ),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        manager = get_listener_manager()
        # The plugin's entry point may have registered the listener in an earlier dag.test() of this
        # process, with the configuration of that moment: start from a fresh link either way.
        task_events.BUS_LINK.close()
        registered = manager.pm.is_registered(task_events)
        if not registered:
            manager.add_listener(task_events)
        try:
            from tests.notifications.dags.notifier_dag import dag

            capture_server.take()
            # dag.test() runs tasks in-process, skipping the task runner's startup where Airflow
            # calls the listeners' on_starting; call it as the task runner would.
            manager.hook.on_starting(component=None)
            dag.test()
            yield capture_server.take()
        finally:
            if not registered:
                manager.pm.unregister(task_events)
            task_events.BUS_LINK.close()


def _by_path(requests: list[Captured], path: str) -> list[Captured]:
    return [r for r in requests if r.path == path]


def test_failure_callback_sends_task_event(dag_run_requests: list[Captured]) -> None:
    (request,) = _by_path(dag_run_requests, "/notifier")
    body = request.json()
    assert body["involvedObject"]["kind"] == "TaskInstance"
    assert body["involvedObject"]["namespace"] == "flux_notifier_test"
    assert body["involvedObject"]["name"] == "train"
    assert body["severity"] == "error" and body["reason"] == "TaskFailed"
    assert "ValueError: accuracy 0.41 below 0.80" in body["message"]
    assert body["metadata"]["summary"] == "nightly training" and body["metadata"]["team"] == "ml"
    assert body["metadata"]["dag_id"] == "flux_notifier_test" and body["metadata"]["task_id"] == "train"
    assert body["reportingController"] == "airflow"


def test_success_callback_signs_with_connection_password(dag_run_requests: list[Captured]) -> None:
    (request,) = _by_path(dag_run_requests, "/hmac")
    expected = hmac.new(HMAC_KEY.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-signature"] == f"sha256={expected}"
    assert request.json()["reason"] == "TaskSucceeded" and request.json()["severity"] == "info"
    assert request.json()["message"].startswith("Task prepare in DAG run manual__")
    assert request.json()["message"].endswith(" succeeded")


def test_listener_emits_every_task_outcome(dag_run_requests: list[Captured]) -> None:
    events = {r.json()["involvedObject"]["name"]: r.json() for r in _by_path(dag_run_requests, "/listener")}
    assert set(events) == {"train", "prepare", "reconcile"}
    assert events["train"]["severity"] == "error" and events["prepare"]["severity"] == "info"


def test_unknown_connection_type_choice_is_a_clear_error(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FLUX_NO_ADDRESS", _conn(""))
    with pytest.raises(NotificationError, match=r"Provider/airflow/flux_no_address field spec\.address"):
        notification_provider("generic", "flux_no_address")


def test_operator_events_reach_alerts_from_notifications_path(dag_run_requests: list[Captured]) -> None:
    (request,) = _by_path(dag_run_requests, "/slack-hook")
    body = request.json()
    assert body["channel"] == "ml-deployments"
    (attachment,) = body["attachments"]
    assert attachment["author_name"] == "kustomization/ml-serving.flux-system"
    assert attachment["text"] == "Applied revision: main@sha1:1234"
    assert attachment["fields"] == [{"title": "summary", "value": "Model deployment status", "short": False}]


def test_dag_callback_context_becomes_dag_run_event() -> None:
    from airflow_flux_provider.events import ObjectReference
    from airflow_flux_provider.notifiers import event_from_context
    from tests.notifications.dags.notifier_dag import dag

    # the minimal context Airflow's DAG processor passes to DAG-level callbacks
    failed = event_from_context({"dag": dag, "run_id": "manual__1", "reason": "task_failure"})
    assert failed.involved_object == ObjectReference("DagRun", "manual__1", "flux_notifier_test")
    assert (failed.severity, failed.reason) == ("error", "DagRunFailed")
    assert failed.message == "DAG run manual__1 failed: task_failure"
    succeeded = event_from_context({"dag": dag, "run_id": "manual__2", "reason": "success"})
    assert (succeeded.severity, succeeded.reason) == ("info", "DagRunSucceeded")
