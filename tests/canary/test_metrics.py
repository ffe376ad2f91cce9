"""Metric queries: Flagger's templates, MetricTemplates, thresholds and no-data, on the real Prometheus."""

from __future__ import annotations

import math
from typing import Any

import pytest
import requests

from airflow_flux_provider.canary.analysis import _next_step
from airflow_flux_provider.canary.metrics import BUILTIN_QUERIES, MetricChecker, _within, observer, render
from airflow_flux_provider.canary.status import CanaryStatus
from airflow_flux_provider.canary.workloads import deployment_readiness
from airflow_flux_provider.operators.canary import metric_credentials
from airflow_flux_provider.specs import parse_object
from airflow_flux_provider.specs.flagger import Canary, CanaryMetric, MetricTemplate
from airflow_flux_provider.specs.refs import LocalObjectReference
from flux_devkit.services.httpserver import LocalHTTPServer, LoggingHandler
from flux_devkit.services.prometheus import PrometheusServer

NS = "canary-metrics"


def canary(prometheus: str, metrics: list[dict[str, Any]], **analysis: Any) -> Canary:
    manifest = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "shop", "namespace": NS},
        "spec": {
            "metricsServer": prometheus,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
            "service": {"port": 80},
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 5, "metrics": metrics, **analysis},
        },
    }
    analysis = manifest["spec"]["analysis"]
    manifest["spec"]["analysis"] = {k: v for k, v in analysis.items() if v is not None}
    result = parse_object(manifest)
    assert isinstance(result, Canary)
    return result


def template(query: str, address: str) -> MetricTemplate:
    manifest = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "errors", "namespace": NS},
        "spec": {"provider": {"type": "prometheus", "address": address}, "query": query},
    }
    result = parse_object(manifest)
    assert isinstance(result, MetricTemplate)
    return result


@pytest.fixture(scope="module")
def shop_traffic(prometheus: PrometheusServer) -> PrometheusServer:
    """``shop`` serves 95 % 200s at 120 ms; ``idle`` serves nothing."""
    prometheus.exporter.set_traffic("shop", {200: 19, 500: 1}, namespace=NS, latency_ms=120)
    query = f'sum(rate(http_requests_total{{namespace="{NS}",app="shop"}}[5s]))'
    prometheus.wait_for(query, lambda r: bool(r) and float(r[0]["value"][1]) > 0, timeout=60)
    return prometheus


def test_builtin_queries_render_as_flagger_writes_them() -> None:
    success, duration = BUILTIN_QUERIES[observer("istio")]
    variables = {"namespace": "prod", "target": "podinfo", "interval": "1m"}
    assert render(success, variables, {}) == (
        'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="prod",'
        'destination_workload=~"podinfo",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{'
        'reporter="destination",destination_workload_namespace="prod",'
        'destination_workload=~"podinfo"}[1m])) * 100'
    )
    assert render(duration, variables, {}).startswith(
        "histogram_quantile(0.99, sum(rate(istio_request_duration"
    )
    assert observer("gatewayapi:v1") == observer("kubernetes") == "http"
    assert observer("smi:v1alpha3") == "istio"  # Flagger's fallback
    with pytest.raises(KeyError, match="unknown template function 'tenant'"):
        render("up{tenant='{{ tenant }}'}", variables, {})


def test_builtins_pass_and_fail_on_their_ranges(shop_traffic: PrometheusServer) -> None:
    metrics = [
        {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "5s"},
        {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "5s"},
    ]
    checker = MetricChecker(canary(shop_traffic.url, metrics), lambda ns, name: None)
    first = checker.run()
    assert len(first) == 1 and not first[0].passed  # stops at the first failure
    assert first[0].value == pytest.approx(95.0, abs=1.0)
    metrics[0]["thresholdRange"] = {"min": 90}
    both = MetricChecker(canary(shop_traffic.url, metrics), lambda ns, name: None).run()
    assert [m.passed for m in both] == [True, True]
    assert both[1].value is not None and 100 <= both[1].value <= 250  # P99 inside the 100..250 ms bucket


def test_builtins_without_threshold_range_follow_flaggers_deprecated_threshold(
    shop_traffic: PrometheusServer,
) -> None:
    """No thresholdRange: a success rate passes (threshold 0 is its minimum), a latency is held to it."""
    metrics = [
        {"name": "request-success-rate", "interval": "5s"},
        {"name": "request-duration", "threshold": 1000, "interval": "5s"},
    ]
    results = MetricChecker(canary(shop_traffic.url, metrics), lambda ns, name: None).run()
    assert [(m.name, m.passed) for m in results] == [
        ("request-success-rate", True),
        ("request-duration", True),
    ]
    metrics[0]["threshold"] = 99
    [failed] = MetricChecker(canary(shop_traffic.url, metrics), lambda ns, name: None).run()
    assert failed.name == "request-success-rate" and not failed.passed


def _metric(name: str, **fields: Any) -> CanaryMetric:
    return CanaryMetric.model_validate({"name": name, **fields})


@pytest.mark.parametrize(
    ("metric", "value", "passed"),
    [
        (_metric("request-success-rate"), 95.0, True),  # no threshold at all: 0 is the minimum
        (_metric("request-success-rate", threshold=99), 98.9, False),
        (_metric("request-success-rate", threshold=99), 99.0, True),
        (_metric("request-success-rate", thresholdRange={"min": 99, "max": 100}), 100.0, True),
        (_metric("request-duration", thresholdRange={"max": 500}), 500.9, True),  # whole ms: 500
        (_metric("request-duration", thresholdRange={"max": 500}), 501.0, False),
        (_metric("request-duration", thresholdRange={"max": 500.7}), 500.9, True),  # bound truncated too
        (_metric("request-duration", thresholdRange={"min": 10.9}), 10.2, True),
        (_metric("request-duration", thresholdRange={"min": 10}), 9.99, False),
        (_metric("request-duration", threshold=500), 500.5, True),
        (_metric("request-duration", thresholdRange={"max": 500}), math.inf, False),
        (_metric("request-duration"), 0.4, True),  # under 1 ms is 0 ms, within threshold 0
        (_metric("request-duration"), 1.0, False),
        (_metric("custom", query="up", threshold=0.5), 0.5, True),
        (_metric("custom", query="up"), 0.1, False),  # threshold 0 is a maximum for the rest
        (_metric("custom", query="up", thresholdRange={"min": -1}), -0.5, True),
    ],
)
def test_threshold_rules_are_flaggers(metric: CanaryMetric, value: float, passed: bool) -> None:
    assert _within(metric, value) is passed


def test_metric_template_with_variables(shop_traffic: PrometheusServer) -> None:
    query = (
        'sum(rate(http_requests_total{namespace="{{ namespace }}",app="{{ target }}",'
        'status=~"{{ variables.codes }}"}'
        "[{{ interval }}]))"
    )
    errors = template(query, shop_traffic.url)
    metric = {
        "name": "server-errors",
        "templateRef": {"name": "errors"},
        "templateVariables": {"codes": "5.."},
        "thresholdRange": {"max": 0.05},
        "interval": "5s",
    }
    checker = MetricChecker(
        canary("http://unused", [metric]), lambda ns, name: errors if name == "errors" else None
    )
    [result] = checker.run()
    assert result.value is not None and result.value > 0.05 and not result.passed  # the 500s
    assert "outside its threshold" in result.message
    metric["thresholdRange"] = {"max": 5}
    [result] = MetricChecker(canary("http://unused", [metric]), lambda ns, n: errors).run()
    assert result.passed


def test_promql_error_no_data_and_missing_template_are_failed_checks(shop_traffic: PrometheusServer) -> None:
    broken = template("sum(rate(http_requests_total[", shop_traffic.url)
    metric = {"name": "broken", "templateRef": {"name": "errors"}, "thresholdRange": {"max": 1}}
    [result] = MetricChecker(canary("http://unused", [metric]), lambda ns, name: broken).run()
    assert result.value is None and not result.passed
    assert "refused the query (HTTP 400)" in result.message

    idle = {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "5s"}
    quiet = canary(shop_traffic.url, [idle])
    quiet.spec.target_ref.name = "idle"
    [result] = MetricChecker(quiet, lambda ns, name: None).run()
    assert not result.passed and "no values found" in result.message

    [result] = MetricChecker(canary("http://unused", [metric]), lambda ns, name: None).run()
    assert f"MetricTemplate/{NS}/errors not found" in result.message


def test_step_weights_and_status_primitives() -> None:
    stepped = canary("http://unused", [], stepWeight=None, stepWeights=[1, 2, 10, 80])
    assert [_next_step(stepped, w) for w in (0, 1, 2, 10, 80)] == [1, 1, 8, 70, 20]
    both = canary("http://unused", [], stepWeight=7, stepWeights=[1, 2, 10, 80])
    assert [_next_step(both, w) for w in (0, 7, 14)] == [7, 7, 7]  # stepWeight wins the steps
    assert both.spec.analysis is not None and both.spec.analysis.max_weight == 80  # stepWeights the top
    overshoot = canary("http://unused", [], stepWeight=None, stepWeights=[60, 150], maxWeight=20)
    assert [_next_step(overshoot, w) for w in (0, 60)] == [60, 40]  # never past 100
    assert overshoot.spec.analysis is not None and overshoot.spec.analysis.max_weight == 100
    status = CanaryStatus().synced("Initialized", "abc")
    assert status.last_promoted_spec == "abc" and status.conditions[0]["status"] == "True"
    running = status.synced("Progressing", "def").with_counters(canary_weight=30, failed_checks=2)
    waiting = running.with_phase("WaitingPromotion", analysis_iterations=0)
    assert (waiting.canary_weight, waiting.failed_checks, waiting.iterations) == (0, 2, 0)
    assert CanaryStatus.from_dict(waiting.to_dict()) == waiting
    failed = running.synced("Failed", "def")
    assert (failed.failed_checks, failed.last_promoted_spec, failed.conditions[0]["status"]) == (
        0,
        "abc",
        "False",
    )


def test_readiness_follows_flaggers_rules() -> None:
    def deployment(status: dict[str, Any], replicas: int = 2, generation: int = 3) -> dict[str, Any]:
        meta = {"name": "shop", "generation": generation}
        observed = {"observedGeneration": 3, **status}
        return {"metadata": meta, "spec": {"replicas": replicas}, "status": observed}

    ready = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert deployment_readiness(deployment(ready), 100, 600).ready
    assert deployment_readiness(deployment(ready, generation=4), 100, 600).retriable
    half = {**ready, "availableReplicas": 1}
    assert not deployment_readiness(deployment(half), 100, 600).ready
    assert deployment_readiness(deployment(half), 50, 600).ready
    stuck = {
        "type": "Available",
        "status": "False",
        "reason": "MinimumReplicasUnavailable",
        "lastUpdateTime": "2026-01-01T00:00:00Z",
    }
    late = deployment_readiness(deployment({**half, "conditions": [stuck]}), 100, 600)
    assert (late.ready, late.retriable) == (False, False) and "more than 600s" in late.message
    deadline = {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "took too long"}
    exceeded = deployment_readiness(deployment({**ready, "conditions": [deadline]}), 100, 600)
    assert not exceeded.retriable and "took too long" in exceeded.message


class _BearerProxyHandler(LoggingHandler):
    """Forwards GETs to Prometheus only with the right Bearer token (as an auth proxy in front of it)."""

    server: Any

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_body(401, b'{"status":"error","error":"unauthorized"}', "application/json")
            return
        upstream = requests.get(self.server.upstream + self.path, timeout=5)
        self.send_body(upstream.status_code, upstream.content, "application/json")


TOKEN = "prom-s3cret-token"


def test_metric_template_secret_ref_sends_the_bearer_token(
    shop_traffic: PrometheusServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, airflow_connections: Any
) -> None:
    proxy = LocalHTTPServer(_BearerProxyHandler, tmp_path / "proxy.log")
    proxy.upstream = shop_traffic.url  # type: ignore[attr-defined]
    try:
        guarded = template(f'sum(rate(http_requests_total{{namespace="{NS}"}}[5s]))', proxy.url)
        guarded.spec.provider.secret_ref = LocalObjectReference(name="prom-auth")
        metric = {"name": "rps", "templateRef": {"name": "errors"}, "thresholdRange": {"min": 1}}
        spec = canary("http://unused", [metric])

        def check(password: str | None) -> Any:
            """With the Airflow connection ``prom-auth`` holding ``password`` (None: no connection)."""
            if password is None:
                monkeypatch.delenv("AIRFLOW_CONN_PROM-AUTH", raising=False)
            else:
                airflow_connections.add("prom-auth", {"conn_type": "http", "password": password})
            return MetricChecker(spec, lambda ns, n: guarded, metric_credentials).run()[0]

        assert check(TOKEN).passed
        refused = check("wrong-token")
        assert "HTTP 401" in refused.message and "wrong-token" not in refused.message
        missing = check(None)
        assert f"MetricTemplate/{NS}/errors field spec.provider.secretRef" in missing.message
        assert "no Airflow connection 'prom-auth'" in missing.message
    finally:
        proxy.stop()


class _CannedHandler(LoggingHandler):
    """Answers every query with the body the test put in ``server.answer``."""

    server: Any

    def do_GET(self) -> None:
        self.send_body(200, self.server.answer, "application/json")


@pytest.mark.parametrize(
    "answer",
    [
        b'{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"fast"]}]}}',
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}',
        b'{"status":"success","data":{"resultType":"vector","result":[7]}}',
        b'{"status":"success","data":{"resultType":"scalar","result":[1]}}',
        b'{"status":"success","data":{"resultType":"vector","result":[{"value":null}]}}',
    ],
    ids=["not-a-number", "no-value", "not-a-sample", "short-scalar", "null-value"],
)
def test_malformed_prometheus_answers_are_failed_checks(tmp_path: Any, answer: bytes) -> None:
    server = LocalHTTPServer(_CannedHandler, tmp_path / "prometheus.log")
    server.answer = answer  # type: ignore[attr-defined]
    try:
        metric = {"name": "rps", "query": "up", "thresholdRange": {"min": 1}}
        [result] = MetricChecker(canary(server.url, [metric]), lambda ns, n: None).run()
    finally:
        server.stop()
    assert not result.passed and result.value is None
    assert "answered with a malformed" in result.message
