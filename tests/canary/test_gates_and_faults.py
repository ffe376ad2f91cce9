"""Webhook gates, routers other than Istio, and faults: each leaves all traffic on the primary."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.canary import ClusterEnvironment
from airflow_flux_provider.canary.errors import CanaryError
from flux_devkit.services.prometheus import PrometheusServer
from tests.canary.conftest import CanaryRun, WebhookServer, finished
from tests.canary.test_analysis import healthy_traffic, image_of

GATEWAY = "gateway.networking.k8s.io/v1"
ISTIO = "networking.istio.io/v1beta1"


def vs_weights(run: CanaryRun) -> list[int]:
    return [r["weight"] for r in run.get("VirtualService", "podinfo", ISTIO)["spec"]["http"][0]["route"]]


def nginx_ingress(cluster: Any, namespace: str) -> dict[str, str]:
    """Apply Ingress ``podinfo`` (backend: the apex Service) and return it as an ingressRef."""
    backend = {"service": {"name": "podinfo", "port": {"number": 8080}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    rule = {"host": "app.example.com", "http": {"paths": [path]}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": {"rules": [rule]}}
    ingress["metadata"] = {"name": "podinfo", "namespace": namespace}
    cluster.apply(ingress, force=True)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"}


def assert_rolled_back(run: CanaryRun) -> None:
    assert run.status().phase == "Failed"
    assert vs_weights(run) == [100, 0]
    assert run.get("Deployment", "podinfo")["spec"]["replicas"] == 0
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:1.0"


def test_rejected_confirm_promotion_halts_until_approved(
    deploy_canary: Any, prometheus: PrometheusServer, webhooks: WebhookServer
) -> None:
    run: CanaryRun = deploy_canary()
    ns = run.namespace
    healthy_traffic(prometheus, ns)
    webhooks.answer(f"{ns}/promote-gate", 403)
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.status.phase == "WaitingPromotion")
    for _ in range(3):  # analysis keeps running, the weight is held, nothing is promoted
        result = run.step()
        assert result.status.phase == "WaitingPromotion" and result.decision.startswith(
            "waiting for promotion"
        )
        assert result.metrics and all(m.passed for m in result.metrics)
    assert vs_weights(run) == [80, 20]
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:1.0"
    assert run.status().failed_checks == 0

    webhooks.answer(f"{ns}/promote-gate", 200)
    assert run.until(finished).status.phase == "Succeeded"
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:2.0"


def test_closed_confirm_rollout_keeps_the_canary_scaled_down(
    deploy_canary: Any, webhooks: WebhookServer, sandbox_namespace: str
) -> None:
    hooks = f"{webhooks.url}/{sandbox_namespace}"
    run: CanaryRun = deploy_canary(
        webhooks=[{"name": "gate", "type": "confirm-rollout", "url": f"{hooks}/gate"}]
    )
    webhooks.answer(f"{sandbox_namespace}/gate", 423)
    run.set_image("podinfo:2.0")
    for _ in range(2):
        assert run.step().status.phase == "Waiting"
    assert run.get("Deployment", "podinfo")["spec"]["replicas"] == 0
    assert webhooks.payloads(f"{sandbox_namespace}/gate")[-1]["phase"] == "Waiting"
    webhooks.answer(f"{sandbox_namespace}/gate", 202)
    assert run.step().status.phase == "Progressing"
    assert run.get("Deployment", "podinfo")["spec"]["replicas"] == 2


def test_rollback_webhook_rolls_back_at_once(
    deploy_canary: Any, prometheus: PrometheusServer, webhooks: WebhookServer, sandbox_namespace: str
) -> None:
    hooks = f"{webhooks.url}/{sandbox_namespace}"
    run: CanaryRun = deploy_canary(
        threshold=10, webhooks=[{"name": "abort", "type": "rollback", "url": f"{hooks}/abort"}]
    )
    healthy_traffic(prometheus, sandbox_namespace)
    webhooks.answer(f"{sandbox_namespace}/abort", 500)  # a failing rollback hook means "carry on"
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.decision == "weight 10")
    webhooks.answer(f"{sandbox_namespace}/abort", 200)
    result = run.step()
    assert result.decision == "rolled back: rollback webhook abort asked for it"
    assert_rolled_back(run)


def test_webhook_timeout_counts_as_failed_checks(
    deploy_canary: Any, prometheus: PrometheusServer, webhooks: WebhookServer, sandbox_namespace: str
) -> None:
    hooks = f"{webhooks.url}/{sandbox_namespace}"
    run: CanaryRun = deploy_canary(
        webhooks=[{"name": "load-test", "url": f"{hooks}/slow", "timeout": "300ms"}],
    )
    healthy_traffic(prometheus, sandbox_namespace)
    webhooks.answer(f"{sandbox_namespace}/slow", 200, delay=1.0)
    run.set_image("podinfo:2.0")
    run.until(finished)
    failures = [d for d in run.decisions if d.startswith("failed check")]
    assert len(failures) == 2 and "no answer within 0.3s (timeout)" in failures[0]
    assert "/slow" not in " ".join(run.decisions)  # a webhook's path may be a secret (Slack, Teams)
    assert_rolled_back(run)


def test_prometheus_down_rolls_back_with_traffic_on_primary(
    deploy_canary: Any, sandbox_namespace: str
) -> None:
    run: CanaryRun = deploy_canary()
    run.canary.spec.metrics_server = "http://127.0.0.1:9"  # nothing listens on the discard port
    run.set_image("podinfo:2.0")
    run.until(finished)
    assert "Prometheus at http://127.0.0.1:9 is unreachable" in next(
        d for d in run.decisions if "failed" in d
    )
    assert_rolled_back(run)


def test_target_that_never_becomes_ready_rolls_back(deploy_canary: Any) -> None:
    run: CanaryRun = deploy_canary()
    run.set_image("podinfo:fail")
    result = run.until(finished)
    assert "Progress deadline exceeded" in result.decision
    assert_rolled_back(run)


def test_unknown_metric_is_refused_naming_the_field(deploy_canary: Any, canary_cluster: Any) -> None:
    run: CanaryRun = deploy_canary()
    run.canary.spec.analysis.metrics[0].name = "error-budget"  # type: ignore[union-attr]
    with pytest.raises(
        CanaryError, match=r"field spec.analysis.metrics\[0\]: metric 'error-budget' is not built in"
    ):
        ClusterEnvironment(canary_cluster, run.canary)


def test_gatewayapi_router_writes_httproute_weights(
    deploy_canary: Any, prometheus: PrometheusServer, sandbox_namespace: str
) -> None:
    gateway = {"name": "public", "namespace": "gateways"}
    run: CanaryRun = deploy_canary(
        spec={"provider": "gatewayapi:v1", "service": {"port": 8080, "gatewayRefs": [gateway]}}
    )
    healthy_traffic(prometheus, sandbox_namespace)
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.decision == "weight 10")
    route = run.get("HTTPRoute", "podinfo", GATEWAY)["spec"]
    assert route["parentRefs"] == [gateway]
    assert [(b["name"], b["port"], b["weight"]) for b in route["rules"][0]["backendRefs"]] == [
        ("podinfo-primary", 8080, 90),
        ("podinfo-canary", 8080, 10),
    ]
    assert run.until(finished).status.phase == "Succeeded"
    weights = [
        b["weight"] for b in run.get("HTTPRoute", "podinfo", GATEWAY)["spec"]["rules"][0]["backendRefs"]
    ]
    assert weights == [100, 0]


def test_gatewayapi_without_gateway_refs_is_refused(deploy_canary: Any) -> None:
    with pytest.raises(CanaryError, match=r"field spec.service.gatewayRefs: the gatewayapi provider needs"):
        deploy_canary(spec={"provider": "gatewayapi:v1"})


def test_nginx_router_writes_a_weighted_canary_ingress(
    deploy_canary: Any, prometheus: PrometheusServer, canary_cluster: Any, sandbox_namespace: str
) -> None:
    ref = nginx_ingress(canary_cluster, sandbox_namespace)
    run: CanaryRun = deploy_canary(spec={"provider": "nginx", "ingressRef": ref})
    healthy_traffic(prometheus, sandbox_namespace)
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.decision == "weight 10")
    canary_ingress = run.get("Ingress", "podinfo-canary", "networking.k8s.io/v1")
    assert canary_ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "10",
    }
    paths = canary_ingress["spec"]["rules"][0]["http"]["paths"]
    assert paths[0]["backend"]["service"]["name"] == "podinfo-canary"
    assert run.until(finished).status.phase == "Succeeded"


def test_kubernetes_provider_runs_blue_green_by_iterations(
    deploy_canary: Any, prometheus: PrometheusServer, sandbox_namespace: str
) -> None:
    run: CanaryRun = deploy_canary(spec={"provider": "kubernetes"}, stepWeight=None, maxWeight=None)
    healthy_traffic(prometheus, sandbox_namespace)
    run.set_image("podinfo:2.0")
    assert run.until(finished).status.phase == "Succeeded"
    iterations = [d for d in run.decisions if d.startswith("iteration")]
    assert iterations[0] == "iteration 1/10" and iterations[-1] == "iteration 10/10"
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:2.0"
    assert run.get("Deployment", "podinfo")["spec"]["replicas"] == 0


def test_closed_traffic_increase_gate_holds_the_weight_and_events_reach_event_hooks(
    deploy_canary: Any, prometheus: PrometheusServer, webhooks: WebhookServer, sandbox_namespace: str
) -> None:
    hooks = f"{webhooks.url}/{sandbox_namespace}"
    run: CanaryRun = deploy_canary(
        webhooks=[
            {"name": "more", "type": "confirm-traffic-increase", "url": f"{hooks}/more"},
            {"name": "audit", "type": "event", "url": f"{hooks}/audit", "metadata": {"team": "shop"}},
        ]
    )
    healthy_traffic(prometheus, sandbox_namespace)
    webhooks.answer(f"{sandbox_namespace}/more", 409)
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.decision.startswith("weight held at 0"))
    for _ in range(2):
        assert run.step().decision.startswith("weight held at 0")
    assert vs_weights(run) == [100, 0] and run.status().failed_checks == 0
    webhooks.answer(f"{sandbox_namespace}/more", 200)
    run.until(lambda r: r.decision == "weight 10")

    events = webhooks.payloads(f"{sandbox_namespace}/audit")
    messages = [e["metadata"]["eventMessage"] for e in events]
    assert any(m.startswith("Advance Canary/") and m.endswith("canary weight 10") for m in messages)
    assert all(e["metadata"]["team"] == "shop" and e["metadata"]["timestamp"].isdigit() for e in events)
    assert {e["metadata"]["eventType"] for e in events} <= {"Normal", "Warning"}


def test_skip_analysis_promotes_without_checks(deploy_canary: Any, webhooks: WebhookServer) -> None:
    run: CanaryRun = deploy_canary(spec={"skipAnalysis": True})
    run.canary.spec.metrics_server = "http://127.0.0.1:9"  # would fail every check if one ran
    run.set_image("podinfo:2.0")
    assert run.until(finished).decision == "skipped analysis: promoted"
    assert image_of(run.get("Deployment", "podinfo-primary")) == "podinfo:2.0"
    assert vs_weights(run) == [100, 0]
    assert [p["phase"] for p in webhooks.payloads(f"{run.namespace}/notify")] == ["Succeeded"]
    assert not webhooks.payloads(f"{run.namespace}/load-test")


def test_webhook_retries_server_errors_but_not_client_errors(
    deploy_canary: Any, prometheus: PrometheusServer, webhooks: WebhookServer, sandbox_namespace: str
) -> None:
    hooks = f"{webhooks.url}/{sandbox_namespace}"
    pre = {"name": "pre", "type": "pre-rollout", "url": f"{hooks}/pre", "retries": 1}
    run: CanaryRun = deploy_canary(webhooks=[pre])
    healthy_traffic(prometheus, sandbox_namespace)
    webhooks.answer_next(f"{sandbox_namespace}/pre", 503)  # retried once, then 200
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.decision == "weight 10")
    assert len(webhooks.payloads(f"{sandbox_namespace}/pre")) == 2 and run.status().failed_checks == 0

    run.set_image("podinfo:3.0")  # a new revision mid-run restarts the analysis at weight 0
    webhooks.answer_next(f"{sandbox_namespace}/pre", 400)  # a client error is final
    result = run.until(lambda r: r.decision.startswith("failed check"))
    assert "webhook pre (pre-rollout) failed: HTTP 400: gate closed" in result.decision
    assert "new revision mid-run: analysis restarted" in run.decisions


AB_MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


def test_ab_testing_routes_matching_requests_to_the_canary(
    deploy_canary: Any, prometheus: PrometheusServer, sandbox_namespace: str
) -> None:
    run: CanaryRun = deploy_canary(stepWeight=None, maxWeight=None, iterations=3, match=AB_MATCH)
    healthy_traffic(prometheus, sandbox_namespace)
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.decision == "iteration 1/3")
    http = run.get("VirtualService", "podinfo", ISTIO)["spec"]["http"]
    assert http[0]["match"] == AB_MATCH
    assert [r["weight"] for r in http[0]["route"]] == [0, 100]
    assert "match" not in http[1] and http[1]["route"] == [
        {"destination": {"host": "podinfo-primary"}, "weight": 100}
    ]
    assert run.until(finished).status.phase == "Succeeded"
    assert [d for d in run.decisions if d.startswith("iteration")] == [
        "iteration 1/3",
        "iteration 2/3",
        "iteration 3/3",
    ]
    assert vs_weights(run) == [100, 0]


def test_ab_testing_on_nginx_uses_header_annotations(
    deploy_canary: Any, prometheus: PrometheusServer, canary_cluster: Any, sandbox_namespace: str
) -> None:
    ref = nginx_ingress(canary_cluster, sandbox_namespace)
    run: CanaryRun = deploy_canary(
        spec={"provider": "nginx", "ingressRef": ref},
        stepWeight=None,
        maxWeight=None,
        iterations=2,
        match=AB_MATCH,
    )
    healthy_traffic(prometheus, sandbox_namespace)
    run.set_image("podinfo:2.0")
    run.until(lambda r: r.decision == "iteration 1/2")
    annotations = run.get("Ingress", "podinfo-canary", "networking.k8s.io/v1")["metadata"]["annotations"]
    assert annotations == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
        "nginx.ingress.kubernetes.io/canary-by-header-value": "insider",
    }
    assert run.until(finished).status.phase == "Succeeded"
    annotations = run.get("Ingress", "podinfo-canary", "networking.k8s.io/v1")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    assert not any("canary-by-" in key for key in annotations)
