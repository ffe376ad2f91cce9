"""Flagger's analysis against the sandbox, a real Prometheus scraping the exporter, and a webhook server."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.events import Event, subscribe
from flux_devkit.services.prometheus import PrometheusServer
from tests.canary.conftest import CanaryRun, WebhookServer, finished

SUCCESS = (
    'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",'
    'destination_workload=~"podinfo"}}[5s]))'
)


def healthy_traffic(
    prometheus: PrometheusServer,
    namespace: str,
    *,
    rps: dict[int, float] | None = None,
    latency_ms: float = 40,
) -> None:
    """Serve canary traffic and wait until Prometheus has a rate for it."""
    prometheus.exporter.set_traffic("podinfo", rps or {200: 20}, namespace=namespace, latency_ms=latency_ms)
    prometheus.wait_for(
        SUCCESS.format(ns=namespace), lambda r: bool(r) and float(r[0]["value"][1]) > 0, timeout=60
    )


def image_of(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def test_bootstrap_creates_primary_services_and_routes(deploy_canary: Any) -> None:
    run: CanaryRun = deploy_canary()
    ns = run.namespace
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:1.0"
    assert run.get("Deployment", "podinfo-primary")["spec"]["selector"]["matchLabels"] == {
        "app": "podinfo-primary"
    }
    assert run.get("Deployment", "podinfo")["spec"]["replicas"] == 0
    selectors = {
        s: run.get("Service", s, "v1")["spec"]["selector"]
        for s in ("podinfo", "podinfo-primary", "podinfo-canary")
    }
    assert selectors == {
        "podinfo": {"app": "podinfo-primary"},
        "podinfo-primary": {"app": "podinfo-primary"},
        "podinfo-canary": {"app": "podinfo"},
    }
    vs = run.get("VirtualService", "podinfo", "networking.istio.io/v1beta1")
    assert [(r["destination"]["host"], r["weight"]) for r in vs["spec"]["http"][0]["route"]] == [
        ("podinfo-primary", 100),
        ("podinfo-canary", 0),
    ]
    status = run.status()
    assert status.phase == "Initialized" and status.last_promoted_spec == status.last_applied_spec
    assert status.conditions[0]["type"] == "Promoted" and status.conditions[0]["status"] == "True"
    # Nothing changed: the next tick is idle and keeps the phase.
    assert run.step().decision.startswith("no new revision") and ns


def test_passing_canary_promotes(
    deploy_canary: Any, prometheus: PrometheusServer, webhooks: WebhookServer
) -> None:
    run: CanaryRun = deploy_canary()
    ns = run.namespace
    healthy_traffic(prometheus, ns)
    run.set_image("podinfo:2.0")
    steps: list[Event] = []
    unsubscribe = subscribe(lambda e: steps.append(e) if e.reason == "CanaryStep" else None)
    try:
        result = run.until(finished)
    finally:
        unsubscribe()
    assert result.status.phase == "Succeeded", run.decisions
    assert [e.message for e in steps] == run.decisions[-len(steps) :]
    measured = [e.metadata for e in steps if "request-success-rate" in e.metadata]
    assert [m["measuredAtWeight"] for m in measured] == ["10", "20"]
    assert float(measured[0]["request-success-rate"]) == 100
    assert 10 in run.weights and 20 in run.weights and max(run.weights) == 20
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:2.0"
    assert run.get("Deployment", "podinfo")["spec"]["replicas"] == 0
    vs = run.get("VirtualService", "podinfo", "networking.istio.io/v1beta1")
    assert [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [100, 0]
    assert run.status().failed_checks == 0
    notify = webhooks.payloads(f"{ns}/notify")
    assert [p["phase"] for p in notify] == ["Succeeded"]
    load = webhooks.payloads(f"{ns}/load-test")
    assert load and load[0]["name"] == "podinfo" and load[0]["namespace"] == ns
    assert load[0]["metadata"] == {"type": "cmd"} and load[0]["checksum"]
    assert len(webhooks.payloads(f"{ns}/pre")) == 1


def test_failing_canary_rolls_back_after_threshold(
    deploy_canary: Any, prometheus: PrometheusServer, webhooks: WebhookServer
) -> None:
    run: CanaryRun = deploy_canary(threshold=3)
    ns = run.namespace
    healthy_traffic(prometheus, ns, rps={200: 10, 503: 10})
    run.set_image("podinfo:2.0")
    result = run.until(finished)
    assert result.status.phase == "Failed"
    failed = [d for d in run.decisions if d.startswith("failed check")]
    assert len(failed) == 3 and "request-success-rate" in failed[0]
    assert max(run.weights) == 10  # weight held after the first step
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:1.0"
    assert run.get("Deployment", "podinfo")["spec"]["replicas"] == 0
    vs = run.get("VirtualService", "podinfo", "networking.istio.io/v1beta1")
    assert [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [100, 0]
    assert run.status().conditions[0]["status"] == "False"
    assert [p["phase"] for p in webhooks.payloads(f"{ns}/notify")] == ["Failed"]


@pytest.mark.parametrize(
    ("analysis", "weights"),
    [
        # stepWeights and maxWeight: the last stepWeights entry is the maximum, maxWeight is ignored
        ({"stepWeight": None, "stepWeights": [10, 20], "maxWeight": 100}, [10, 20]),
        # stepWeight above maxWeight: one step overshoots, then promotion
        ({"stepWeight": 30, "maxWeight": 20}, [30]),
        # stepWeight beside stepWeights: stepWeight sets the steps, stepWeights the maximum
        ({"stepWeight": 10, "stepWeights": [5, 30], "maxWeight": None}, [10, 20, 30]),
        # a step past 100 routes everything to the canary, then promotes
        ({"stepWeight": 150, "maxWeight": 50}, [100]),
    ],
    ids=[
        "stepWeights-and-maxWeight",
        "stepWeight-above-maxWeight",
        "stepWeight-and-stepWeights",
        "stepWeight-above-100",
    ],
)
def test_weight_settings_flagger_tolerates_promote_as_flagger_does(
    deploy_canary: Any, prometheus: PrometheusServer, analysis: dict[str, Any], weights: list[int]
) -> None:
    run: CanaryRun = deploy_canary(**analysis)
    healthy_traffic(prometheus, run.namespace)
    run.set_image("podinfo:2.0")
    result = run.until(finished)
    assert result.status.phase == "Succeeded", run.decisions
    assert [d for d in run.decisions if d.startswith("weight ")] == [f"weight {w}" for w in weights]
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:2.0"


def test_iterations_beside_step_weight_run_blue_green(
    deploy_canary: Any, prometheus: PrometheusServer
) -> None:
    run: CanaryRun = deploy_canary(iterations=2, stepWeight=10)
    healthy_traffic(prometheus, run.namespace)
    run.set_image("podinfo:2.0")
    result = run.until(finished)
    assert result.status.phase == "Succeeded", run.decisions
    assert "iteration 1/2" in run.decisions and "iteration 2/2" in run.decisions
    assert not any(d.startswith("weight ") for d in run.decisions)
