"""The prometheus fixture scrapes an exporter the test controls; Flagger's built-in queries see it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import requests

from flux_devkit.services.process import ServiceError
from flux_devkit.services.prometheus import PrometheusServer

# A namespace of its own: other tests in the session share this Prometheus and exporter.
SEL = 'reporter="destination",destination_workload_namespace="svc-check",destination_workload=~"podinfo"'
ISTIO_SUCCESS = (
    f'sum(rate(istio_requests_total{{{SEL},response_code!~"5.*"}}[5s]))'
    f" / sum(rate(istio_requests_total{{{SEL}}}[5s])) * 100"
)
ISTIO_P99 = (
    f"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{{SEL}}}[5s])) by (le))"
)
NGINX_SEL = 'namespace="svc-check",ingress="podinfo",canary!=""'
NGINX_AVG_MS = (
    f"sum(rate(nginx_ingress_controller_response_duration_seconds_sum{{{NGINX_SEL}}}[5s]))"
    f" / sum(rate(nginx_ingress_controller_response_duration_seconds_count{{{NGINX_SEL}}}[5s])) * 1000"
)
# Flagger's kubernetes / gatewayapi providers (duration in seconds, x1000 in the analysis).
POD_SEL = 'kubernetes_namespace="svc-check",kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'
GATEWAY_SUCCESS = (
    f'sum(rate(http_request_duration_seconds_count{{{POD_SEL},status!~"5.*"}}[5s]))'
    f" / sum(rate(http_request_duration_seconds_count{{{POD_SEL}}}[5s])) * 100"
)
GATEWAY_P99_S = (
    f"histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{{{POD_SEL}}}[5s])) by (le))"
)


def value(result: list[dict[str, Any]]) -> float | None:
    return float(result[0]["value"][1]) if result else None


def near(target: float, tolerance: float) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda result: (v := value(result)) is not None and abs(v - target) <= tolerance


def test_flagger_queries_follow_the_traffic_the_test_sets(prometheus: PrometheusServer) -> None:
    prometheus.exporter.set_traffic("podinfo", {200: 20}, namespace="svc-check", latency_ms=40)
    prometheus.wait_for(ISTIO_SUCCESS, near(100.0, 0.01), timeout=60)
    assert value(prometheus.query(ISTIO_P99)) == pytest.approx(49.9, abs=0.5)  # inside the 25..50 ms bucket
    assert value(prometheus.query(NGINX_AVG_MS)) == pytest.approx(40.0, abs=0.01)
    assert value(prometheus.query(GATEWAY_SUCCESS)) == pytest.approx(100.0)
    assert value(prometheus.query(GATEWAY_P99_S)) == pytest.approx(0.0499, abs=0.0005)

    # A quarter of the requests now fail, and slowly: both SLOs must move.
    prometheus.exporter.set_traffic("podinfo", {200: 15, 503: 5}, namespace="svc-check", latency_ms=700)
    prometheus.wait_for(ISTIO_SUCCESS, near(75.0, 0.5), timeout=60)
    prometheus.wait_for(ISTIO_P99, lambda r: (value(r) or 0) > 500, timeout=30)
    assert value(prometheus.query(GATEWAY_SUCCESS)) == pytest.approx(75.0, abs=0.5)
    prometheus.exporter.set_traffic("podinfo", {}, namespace="svc-check")


def test_one_shot_counters_are_scraped(prometheus: PrometheusServer) -> None:
    prometheus.exporter.add_requests("checkout", 500, 7, namespace="shop")
    query = 'http_requests_total{namespace="shop",app="checkout",status="500"}'
    assert value(prometheus.wait_for(query, near(7, 0), timeout=30)) == 7


def test_bad_promql_is_a_clear_error(prometheus: PrometheusServer) -> None:
    with pytest.raises(ServiceError, match="fix the PromQL"):
        prometheus.query("sum(rate(")


def test_exposition_passes_promtool(prometheus: PrometheusServer) -> None:
    prometheus.exporter.add_requests("lint-check", 200, 3, namespace="lint")
    prometheus.exporter.add_requests("lint-check", 503, 1, namespace="lint", latency_ms=900)
    text = requests.get(prometheus.exporter.url, timeout=10).text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    # 1 = the text does not parse; 3 = naming lint only (the upstream names are what they are).
    assert checked.returncode in (0, 3), checked.stderr
    assert "error" not in checked.stdout + checked.stderr
    assert "no help text" not in checked.stdout + checked.stderr
