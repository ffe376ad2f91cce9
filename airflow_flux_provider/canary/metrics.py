"""Metric checks: Flagger's built-in queries per provider, MetricTemplates, Prometheus.

Queries are Go-template strings whose variables are functions (``{{ namespace }}``);
rendering fails on an unknown name, as Flagger's ``missingkey=error``. The Prometheus
provider takes the last series of an instant vector; an empty result or NaN is
"no values found", which Flagger counts as a failed check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests

from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.canary.webhooks import endpoint
from airflow_flux_provider.credentials import Credentials, SecretLookup
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.specs.duration import format_duration
from airflow_flux_provider.specs.flagger import Canary, CanaryMetric, MetricTemplate

PROMETHEUS_TIMEOUT = 5.0
DEFAULT_METRICS_SERVER = "http://prometheus:9090"


def _success(metric: str, selector: str, non_5xx: str) -> str:
    return (
        f"sum(rate({metric}{{{selector},{non_5xx}}}[{{{{ interval }}}}]))"
        f" / sum(rate({metric}{{{selector}}}[{{{{ interval }}}}])) * 100"
    )


def _p99(bucket: str, selector: str, scale: str = "") -> str:
    return f"histogram_quantile(0.99, sum(rate({bucket}{{{selector}}}[{{{{ interval }}}}])) by (le)){scale}"


_ISTIO = (
    'reporter="destination",destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"'
)
_LINKERD = 'namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"'
_POD = (
    'kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'
)
_NGINX = 'namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""'
_NGINX_DURATION = "nginx_ingress_controller_response_duration_seconds"

# observer -> (request-success-rate, request-duration in ms)
BUILTIN_QUERIES: dict[str, tuple[str, str]] = {
    "istio": (
        _success("istio_requests_total", _ISTIO, 'response_code!~"5.*"'),
        _p99("istio_request_duration_milliseconds_bucket", _ISTIO),
    ),
    "linkerd": (
        _success("response_total", _LINKERD, 'classification!="failure"'),
        _p99("response_latency_ms_bucket", _LINKERD),
    ),
    "http": (
        _success("http_request_duration_seconds_count", _POD, 'status!~"5.*"'),
        _p99("http_request_duration_seconds_bucket", _POD, " * 1000"),
    ),
    "nginx": (
        _success("nginx_ingress_controller_requests", _NGINX, 'status!~"5.*"'),
        f"sum(rate({_NGINX_DURATION}_sum{{{_NGINX}}}[{{{{ interval }}}}]))"
        f" / sum(rate({_NGINX_DURATION}_count{{{_NGINX}}}[{{{{ interval }}}}])) * 1000",
    ),
}
BUILTIN_METRICS = ("request-success-rate", "request-duration")


def observer(provider: str | None) -> str:
    """Which built-in query family a provider uses; unknown ones fall back to Istio's, as in Flagger."""
    provider = provider or "istio"
    if provider == "kubernetes" or provider.startswith("gatewayapi"):
        return "http"
    return provider if provider in BUILTIN_QUERIES else "istio"


_VARIABLE = re.compile(r"{{-?\s*([A-Za-z_][\w.]*)\s*-?}}")


def render(query: str, variables: dict[str, str], extra: dict[str, str]) -> str:
    """Substitute ``{{ name }}``-style calls and ``{{ variables.key }}``; unknown names are errors."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("variables."):
            key = name.removeprefix("variables.")
            if key in extra:
                return extra[key]
            raise KeyError(f"templateVariables has no key {key!r}")
        if name in variables:
            return variables[name]
        raise KeyError(
            f"unknown template function {name!r} (known: {', '.join(sorted(variables))}, variables.<key>)"
        )

    return " ".join(_VARIABLE.sub(substitute, query).split())


def template_variables(canary: Canary, interval: timedelta) -> dict[str, str]:
    spec = canary.spec
    target = spec.target_ref.name
    return {
        "name": canary.metadata.name,
        "namespace": canary.metadata.namespace or "default",
        "target": target,
        "service": spec.service.name or target,
        "ingress": spec.ingress_ref.name if spec.ingress_ref else target,
        "route": spec.route_ref.name if spec.route_ref else target,
        "interval": format_duration(interval),
    }


class MetricQueryError(CanaryError):
    """The metric could not be measured (query error, no values, server down); one failed check."""


def prometheus_query(
    address: str,
    promql: str,
    *,
    headers: dict[str, str] | None = None,
    credentials: Credentials | None = None,
) -> float:
    """Instant query; the value of the last series. Empty or NaN raises "no values found".

    ``credentials``: a ``token`` is sent as a Bearer token, else username/password as basic auth.
    """
    url = address.rstrip("/") + "/api/v1/query"
    headers = dict(headers or {})
    auth = None
    if credentials is not None and credentials.token:
        headers["Authorization"] = f"Bearer {credentials.token}"
    elif credentials is not None:
        auth = credentials.basic_auth
    try:
        response = requests.get(
            url, params={"query": promql}, headers=headers, auth=auth, timeout=PROMETHEUS_TIMEOUT
        )
    except requests.RequestException as err:
        raise MetricQueryError(
            f"Prometheus at {endpoint(address)} is unreachable: {type(err).__name__}"
        ) from None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400 or body.get("status") != "success":
        raise MetricQueryError(
            f"Prometheus at {endpoint(address)} refused the query (HTTP {response.status_code}): "
            f"{body.get('error', response.text[:200])}"
        )
    data = body.get("data") or {}
    if data.get("resultType") not in ("vector", "scalar"):
        raise MetricQueryError(
            f"query returned multiple values ({data.get('resultType')}); return an instant vector"
        )
    result = data.get("result") or []
    if not result:
        raise MetricQueryError(
            "no values found: the query matched no series (is the canary receiving traffic?)"
        )
    try:
        value = float(result[1] if data["resultType"] == "scalar" else result[-1]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        raise MetricQueryError(
            f"Prometheus at {endpoint(address)} answered with a malformed {data['resultType']}: "
            f"{str(result)[:200]}"
        ) from None
    if math.isnan(value):
        raise MetricQueryError("no values found: the query returned NaN (no requests in the window?)")
    return value


@dataclass
class _Query:
    address: str
    promql: str
    headers: dict[str, str] = field(default_factory=dict)
    credentials: Credentials | None = None


@dataclass(frozen=True)
class MetricResult:
    """One metric of one tick: its value (None when unmeasured) and whether it passed."""

    name: str
    value: float | None
    passed: bool
    message: str


def _within(metric: CanaryMetric, value: float) -> bool:
    """Flagger's verdict on one measured value.

    ``thresholdRange`` bounds it on both sides; without one, the deprecated ``threshold``
    (0 when unset) is a minimum for ``request-success-rate`` and a maximum for every other
    metric, so a success rate with neither passes. ``request-duration`` is compared in whole
    milliseconds, value and bounds truncated as Go's ``time.Duration(x) * time.Millisecond``
    (an infinite latency stays infinite: it fails a maximum, where Go's conversion is undefined).
    """

    def whole(x: float) -> float:
        return math.trunc(x) if metric.name == "request-duration" and math.isfinite(x) else x

    value = whole(value)
    low, high = threshold_bounds(metric)
    return (low is None or value >= whole(low)) and (high is None or value <= whole(high))


def threshold_bounds(metric: CanaryMetric) -> tuple[float | None, float | None]:
    """``(min, max)`` a metric's value must stay within (None: unbounded), as :func:`_within` reads
    ``thresholdRange`` or the deprecated ``threshold``; charts draw the same lines."""
    if metric.threshold_range is not None:
        return metric.threshold_range.min, metric.threshold_range.max
    threshold = metric.threshold or 0.0
    return (threshold, None) if metric.name == "request-success-rate" else (None, threshold)


TemplateLookup = Callable[[str, str], MetricTemplate | None]


class MetricChecker:
    """Evaluates ``analysis.metrics`` in Flagger's order against their providers."""

    def __init__(
        self,
        canary: Canary,
        lookup_template: TemplateLookup,
        lookup_credentials: SecretLookup | None = None,
    ) -> None:
        self.canary = canary
        self.lookup_template = lookup_template
        self.lookup_credentials = lookup_credentials
        self.metrics_server = canary.spec.metrics_server or DEFAULT_METRICS_SERVER

    def validate(self) -> None:
        """Refuse metrics that cannot ever be measured (before any traffic moves)."""
        for index, metric in enumerate(self._metrics()):
            if metric.name not in BUILTIN_METRICS and metric.template_ref is None and not metric.query:
                raise CanaryError(
                    f"metric {metric.name!r} is not built in ({', '.join(BUILTIN_METRICS)}); "
                    "give it a templateRef to a MetricTemplate",
                    obj=self.canary.ref,
                    field=f"spec.analysis.metrics[{index}]",
                )

    def _metrics(self) -> list[CanaryMetric]:
        analysis = self.canary.spec.analysis
        return list(analysis.metrics) if analysis else []

    def _query(self, metric: CanaryMetric) -> _Query:
        """Where and what to ask for one metric, with the template provider's headers and credentials."""
        variables = template_variables(self.canary, metric.interval)
        target = _Query(self.metrics_server, "")
        if metric.template_ref is not None:
            ref = metric.template_ref
            namespace = ref.namespace or self.canary.metadata.namespace or "default"
            template = self.lookup_template(namespace, ref.name)
            if template is None:
                raise MetricQueryError(
                    f"MetricTemplate/{namespace}/{ref.name} not found; apply it or fix templateRef"
                )
            provider = template.spec.provider
            if provider.type != "prometheus":
                raise MetricQueryError(
                    f"MetricTemplate/{namespace}/{ref.name}: provider {provider.type} is not supported; "
                    "use prometheus"
                )
            headers = {name: ", ".join(values) for name, values in provider.headers.items()}
            target = _Query(provider.address or self.metrics_server, template.spec.query, headers)
            if provider.secret_ref is not None:
                target.credentials = self._credentials(
                    f"MetricTemplate/{namespace}/{ref.name}", provider.secret_ref.name
                )
        elif metric.query:
            target.promql = metric.query
        elif metric.name in BUILTIN_METRICS:
            success, duration = BUILTIN_QUERIES[observer(self.canary.spec.provider)]
            target.promql = success if metric.name == "request-success-rate" else duration
        else:
            raise MetricQueryError(f"metric {metric.name!r} has no built-in query and no templateRef")
        try:
            target.promql = render(target.promql, variables, metric.template_variables)
        except KeyError as err:
            raise MetricQueryError(
                f"cannot render the query of metric {metric.name!r}: {err.args[0]}"
            ) from None
        return target

    def _credentials(self, template: str, secret: str) -> Credentials:
        if self.lookup_credentials is None:
            raise MetricQueryError(f"{template}: provider.secretRef {secret!r} cannot be read here")
        try:
            return self.lookup_credentials(secret, obj=template, field="spec.provider.secretRef")
        except FluxError as err:  # a missing secret fails this metric's check, as in Flagger
            raise MetricQueryError(str(err)) from None

    def check(self, metric: CanaryMetric) -> MetricResult:
        try:
            query = self._query(metric)
            value = prometheus_query(
                query.address, query.promql, headers=query.headers, credentials=query.credentials
            )
        except MetricQueryError as err:
            return MetricResult(metric.name, None, False, f"metric {metric.name}: {err.message}")
        passed = _within(metric, value)
        verdict = "within" if passed else "outside"
        return MetricResult(
            metric.name, value, passed, f"metric {metric.name} = {value:g}, {verdict} its threshold"
        )

    def run(self) -> list[MetricResult]:
        """Every metric in Flagger's order (built-ins and queries, then templates) up to the first failure."""
        ordered = sorted(self._metrics(), key=lambda m: m.template_ref is not None)
        results: list[MetricResult] = []
        for metric in ordered:
            results.append(self.check(metric))
            if not results[-1].passed:
                break
        return results
