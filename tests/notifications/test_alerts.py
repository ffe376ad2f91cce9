"""Alert matching, metadata composition, duplicate limiting and dispatch from the seed's manifests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from airflow_flux_provider.events import emit
from airflow_flux_provider.hooks.connections import ConnectionSetupError, NotificationCredentialsHook
from airflow_flux_provider.notifications import (
    Alert,
    Dispatcher,
    DuplicateLimiter,
    EventSource,
    NotificationError,
)
from airflow_flux_provider.notifications.alert import compile_patterns
from airflow_flux_provider.plugins.task_events import shared_limiter
from airflow_flux_provider.specs import load_manifests
from flux_devkit.services.s3 import S3Server
from tests.notifications.capture import CaptureServer
from tests.notifications.helpers import event
from tests.services.connections import AirflowConnections


def alert(**kwargs: object) -> Alert:
    defaults: dict[str, object] = {
        "name": "a",
        "namespace": "flux-system",
        "provider": "p",
        "sources": (EventSource("Kustomization", "*", "flux-system"),),
    }
    defaults.update(kwargs)
    return Alert(**defaults)  # type: ignore[arg-type]


def patterns(*regexes: str) -> tuple[object, ...]:
    return compile_patterns(list(regexes), obj="Alert/flux-system/a", field="spec.inclusionList")


LABELS = {("Kustomization", "flux-system", "ml-serving"): {"team": "ml"}}


@pytest.mark.parametrize(
    ("case", "overrides", "evt_kwargs", "expected"),
    [
        ("wildcard name", {}, {}, True),
        ("exact name", {"sources": (EventSource("Kustomization", "ml-serving", "flux-system"),)}, {}, True),
        ("other name", {"sources": (EventSource("Kustomization", "web", "flux-system"),)}, {}, False),
        (
            "kind is case-sensitive",
            {"sources": (EventSource("kustomization", "*", "flux-system"),)},
            {},
            False,
        ),
        ("other namespace", {}, {"namespace": "apps"}, False),
        ("other kind", {}, {"kind": "HelmRelease"}, False),
        ("error alert drops info", {"severity": "error"}, {}, False),
        ("error alert passes error", {"severity": "error"}, {"severity": "error"}, True),
        ("info alert passes error", {}, {"severity": "error"}, True),
        ("trace never forwarded", {}, {"severity": "trace"}, False),
        ("suspended", {"suspend": True}, {}, False),
        ("inclusion matches", {"inclusion": patterns("revision: main")}, {}, True),
        ("inclusion unanchored miss", {"inclusion": patterns("^revision")}, {}, False),
        ("exclusion wins", {"inclusion": patterns("Applied"), "exclusion": patterns("sha1")}, {}, False),
        ("exclusion miss", {"exclusion": patterns("failed")}, {}, True),
        (
            "matchLabels match",
            {"sources": (EventSource("Kustomization", "*", "flux-system", {"team": "ml"}),)},
            {},
            True,
        ),
        (
            "matchLabels mismatch",
            {"sources": (EventSource("Kustomization", "*", "flux-system", {"team": "web"}),)},
            {},
            False,
        ),
        (
            "matchLabels unknown object",
            {"sources": (EventSource("Kustomization", "*", "flux-system", {"team": "ml"}),)},
            {"name": "unknown"},
            False,
        ),
    ],
)
def test_alert_matching(
    case: str, overrides: dict[str, object], evt_kwargs: dict[str, str], expected: bool
) -> None:
    def labels(obj: object) -> dict[str, str] | None:
        ref = obj  # ObjectReference
        return LABELS.get((ref.kind, ref.namespace, ref.name))  # type: ignore[attr-defined]

    severity = evt_kwargs.pop("severity", "info")
    assert alert(**overrides).matches(event(severity, **evt_kwargs), labels) is expected, case  # type: ignore[arg-type]


def test_metadata_composition_order_and_cleanup() -> None:
    composed = alert(
        event_metadata={"env": "prod", "cluster": "from-alert"}, summary="Model deployment"
    ).compose(
        event(
            metadata={
                "event.toolkit.fluxcd.io/cluster": "from-annotation",
                "event.toolkit.fluxcd.io/owner": "ml-team",
                "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                "kustomize.toolkit.fluxcd.io/token": "secret-token",
                "kustomize.toolkit.fluxcd.io/checksum": "x",
                "helm.toolkit.fluxcd.io/revision": "foreign",
            }
        )
    )
    assert composed.metadata == {
        "cluster": "from-alert",
        "owner": "ml-team",
        "env": "prod",
        "summary": "Model deployment",
        "revision": "main@sha1:abc",
    }


def test_invalid_regex_is_a_clear_error() -> None:
    with pytest.raises(NotificationError, match=r"Alert/flux-system/a field spec.exclusionList\[1\]"):
        compile_patterns(["ok", "(unclosed"], obj="Alert/flux-system/a", field="spec.exclusionList")


def test_duplicates_are_limited_per_interval() -> None:
    now = [0.0]
    limiter = DuplicateLimiter(interval=300, clock=lambda: now[0])
    first = event(metadata={"revision": "r1"})
    assert limiter.allow(first)
    assert not limiter.allow(first)
    assert limiter.allow(event(metadata={"revision": "r2"}))  # a new revision is news
    assert limiter.allow(event(message="other message", metadata={"revision": "r1"}))
    now[0] = 299.0
    assert not limiter.allow(first)
    now[0] = 300.0
    assert limiter.allow(first)


def test_duplicate_window_is_shared_through_a_folder(tmp_path: Path) -> None:
    now = [1000.0]
    first, second = (DuplicateLimiter(300, clock=lambda: now[0], state_url=str(tmp_path)) for _ in range(2))
    assert first.allow(event())
    assert not second.allow(event())  # another process (task) sees the same window
    now[0] += 300
    assert second.allow(event())


def test_workers_share_the_window_beside_an_s3_artifact_store(
    s3_server: S3Server, airflow_connections: AirflowConnections, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"s3://{s3_server.create_bucket('flux-artifacts')}/{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_URL", store)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_CONN_ID", airflow_connections.bucket("store", s3_server))
    worker_1, worker_2 = shared_limiter(), shared_limiter()  # nothing shared but the bucket
    assert worker_1.state_url == f"{store}/notification-limits"
    failed = event(message="health check failed", metadata={"revision": "main@sha1:1"})
    assert worker_1.allow(failed)
    assert not worker_2.allow(failed)  # the task retried on another worker stays quiet
    assert worker_2.allow(event(message="health check failed", metadata={"revision": "main@sha1:2"}))


def test_an_unusable_window_lets_the_alert_through(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "not-a-folder").write_text("")
    limiter = DuplicateLimiter(300, state_url=str(tmp_path / "not-a-folder" / "limits"))
    assert limiter.allow(event())
    assert limiter.allow(event())  # nothing could be recorded: better twice than lost
    assert "duplicate-alert window at" in caplog.text and "the event passes" in caplog.text


SEED_TEMPLATE = """
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Alert
metadata: {{name: model-deployment, namespace: flux-system}}
spec:
  providerRef: {{name: slack}}
  eventSeverity: info
  eventSources:
    - kind: Kustomization
      name: ml-serving
  summary: "Model deployment status"
---
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Provider
metadata: {{name: slack, namespace: flux-system}}
spec:
  type: slack
  channel: ml-deployments
  secretRef: {{name: slack-webhook}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Alert
metadata: {{name: critical-alerts, namespace: flux-system}}
spec:
  providerRef: {{name: pagerduty}}
  eventSeverity: error
  eventSources:
    - kind: Kustomization
      name: '*'
      namespace: flux-system
---
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Provider
metadata: {{name: pagerduty, namespace: flux-system}}
spec:
  type: pagerduty
  channel: pd-routing-key
  address: {url}
"""


def _slack_connection(connections: AirflowConnections, address: str) -> None:
    """The seed Provider's secretRef ``slack-webhook`` as an Airflow connection."""
    connections.add("slack-webhook", {"conn_type": "flux_notification", "host": address})


def test_seed_alerts_route_bus_events(
    capture: CaptureServer, airflow_connections: AirflowConnections
) -> None:
    objects = load_manifests(SEED_TEMPLATE.format(url=capture.url))
    _slack_connection(airflow_connections, f"{capture.url}/services/T/B/x")
    dispatcher = Dispatcher.from_manifests(objects, NotificationCredentialsHook.lookup, retries=0)
    unsubscribe = dispatcher.subscribe()
    try:
        emit(event("info", metadata={"revision": "r1"}))
        emit(event("info", metadata={"revision": "r1"}))  # duplicate: dropped
        emit(event("error", name="other", reason="HealthCheckFailed", message="unhealthy"))
    finally:
        unsubscribe()
    requests = capture.take()
    slack = [r for r in requests if r.path.startswith("/services/")]
    pagerduty = [r for r in requests if r.path.startswith("/v2/")]
    assert len(slack) == 1
    fields = {f["title"]: f["value"] for f in slack[0].json()["attachments"][0]["fields"]}
    assert fields == {"summary": "Model deployment status", "revision": "r1"}
    assert [r.json()["event_action"] for r in pagerduty] == ["trigger"]
    assert pagerduty[0].json()["payload"]["component"] == "other"


def test_failed_delivery_is_reported_not_raised(
    capture: CaptureServer, airflow_connections: AirflowConnections
) -> None:
    objects = load_manifests(SEED_TEMPLATE.format(url="http://127.0.0.1:1"))  # nothing listens there
    _slack_connection(airflow_connections, f"{capture.url}/fail/403/hook")
    dispatcher = Dispatcher.from_manifests(objects, NotificationCredentialsHook.lookup, retries=0)
    deliveries = dispatcher.handle(event("error", reason="HealthCheckFailed"))
    assert {d.alert for d in deliveries} == {
        "Alert/flux-system/model-deployment",
        "Alert/flux-system/critical-alerts",
    }
    errors = {d.alert: d.error or "" for d in deliveries}
    assert "status code 403" in errors["Alert/flux-system/model-deployment"]
    assert "request failed: ConnectionError" in errors["Alert/flux-system/critical-alerts"]


def test_missing_provider_and_connection_are_clear_errors() -> None:
    alert_only = SEED_TEMPLATE.format(url="http://x").split("---")[0]
    with pytest.raises(NotificationError, match=r"spec.providerRef.name.*no Provider 'slack'"):
        Dispatcher.from_manifests(load_manifests(alert_only), NotificationCredentialsHook.lookup)
    with pytest.raises(
        ConnectionSetupError,
        match=r"Provider/flux-system/slack field spec.secretRef.name: no Airflow connection 'slack-webhook'"
        r".*type flux_notification",
    ):
        Dispatcher.from_manifests(
            load_manifests(SEED_TEMPLATE.format(url="http://x")), NotificationCredentialsHook.lookup
        )
