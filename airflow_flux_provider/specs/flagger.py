"""Flagger kinds (``flagger.app/v1beta1``): Canary, MetricTemplate and AlertProvider.

Defaults follow Flagger's code: ``progressDeadlineSeconds`` 600, ``analysis.interval`` 60s
(raised to 10s when lower), metric ``interval`` 1m, webhook ``timeout`` 10s, ready
thresholds 100%, ``maxWeight`` as Flagger computes it (the last ``stepWeights`` entry
wins). The deprecated ``canaryAnalysis`` is read as ``analysis`` when the latter is absent.
Mesh-specific routing options (Istio match/retries/corsPolicy…) are kept as free-form data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_flux_provider.specs.base import FluxObject, SpecModel
from airflow_flux_provider.specs.duration import FlaggerDuration
from airflow_flux_provider.specs.refs import IntOrString, LocalObjectReference, NamespacedObjectReference

GROUP = "flagger.app"
VERSIONS = ("v1beta1",)
_MIN_INTERVAL = timedelta(seconds=10)


class TargetReference(SpecModel):
    api_version: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)


class WorkloadReference(TargetReference):
    """The workload Flagger analyses: it is the canary itself."""

    kind: Literal["Deployment", "DaemonSet", "Service"]


class CrossNamespaceTargetReference(TargetReference):
    namespace: str | None = None


class AutoscalerReference(TargetReference):
    primary_scaler_queries: dict[str, str] = Field(default_factory=dict)
    primary_scaler_replicas: dict[str, int] | None = None


class ServiceMetadata(SpecModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class CanaryService(SpecModel):
    """The Services Flagger generates (``<svc>``, ``<svc>-primary``, ``<svc>-canary``)."""

    name: str | None = None
    port: int = Field(ge=1, le=65535)
    port_name: str = "http"
    target_port: IntOrString | None = None
    app_protocol: str | None = None
    port_discovery: bool = False
    headless: bool = False
    traffic_distribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    timeout: str | None = None
    backend_timeout: str | None = None
    retries: dict[str, Any] | None = None
    match: list[dict[str, Any]] = Field(default_factory=list)
    rewrite: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None
    cors_policy: dict[str, Any] | None = None
    gateways: list[str] = Field(default_factory=list)
    gateway_refs: list[dict[str, Any]] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    delegation: bool = False
    traffic_policy: dict[str, Any] | None = None
    mirror: list[dict[str, Any]] = Field(default_factory=list)
    apex: ServiceMetadata | None = None
    primary: ServiceMetadata | None = None
    canary: ServiceMetadata | None = None
    unmanaged_metadata: dict[str, list[str]] | None = None
    mesh_name: str | None = None
    backends: list[str] = Field(default_factory=list)


class ThresholdRange(SpecModel):
    """Bounds a metric value must stay within (``value < min`` or ``value > max`` fails)."""

    min: float | None = None
    max: float | None = None


class CanaryMetric(SpecModel):
    name: str = Field(min_length=1)
    interval: FlaggerDuration = timedelta(minutes=1)
    threshold: float | None = None
    threshold_range: ThresholdRange | None = None
    template_ref: NamespacedObjectReference | None = None
    template_variables: dict[str, str] = Field(default_factory=dict)
    query: str | None = None


WebhookType = Literal[
    "confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion",
    "post-rollout", "rollback", "event",
]  # fmt: skip


class CanaryWebhook(SpecModel):
    name: str = Field(min_length=1)
    type: WebhookType = "rollout"
    url: str = Field(pattern=r"^https?://")
    timeout: FlaggerDuration = timedelta(seconds=10)
    retries: int = Field(default=0, ge=0)
    metadata: dict[str, str] = Field(default_factory=dict)
    mute_alert: bool = False
    disable_tls: bool = Field(default=False, alias="disableTLS")

    @field_validator("type", mode="before")
    @classmethod
    def _empty_is_rollout(cls, value: Any) -> Any:
        return "rollout" if value == "" else value


class CanaryAlert(SpecModel):
    name: str = Field(min_length=1)
    severity: Literal["info", "warn", "error"] = "info"
    provider_ref: NamespacedObjectReference

    @field_validator("severity", mode="before")
    @classmethod
    def _empty_is_info(cls, value: Any) -> Any:
        return "info" if value == "" else value


class SessionAffinity(SpecModel):
    cookie_name: str | None = None
    primary_cookie_name: str | None = None
    max_age: int = 86400
    domain: str | None = None
    http_only: bool = False
    partitioned: bool = False
    path: str | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = None
    secure: bool = False


class CanaryAnalysis(SpecModel):
    interval: FlaggerDuration = timedelta(seconds=60)
    threshold: int = 1
    max_weight: int | None = Field(default=None, ge=0, le=100)  # above 100 Flagger never promotes
    step_weight: int | None = Field(default=None, ge=0)  # a step past 100 stops at 100, as in Flagger
    step_weights: list[int] = Field(default_factory=list)
    step_weight_promotion: int | None = Field(default=None, ge=0)
    iterations: int | None = Field(default=None, ge=0)
    match: list[dict[str, Any]] = Field(default_factory=list)
    mirror: bool = False
    mirror_weight: int | None = Field(default=None, ge=0, le=100)
    primary_ready_threshold: int = Field(default=100, ge=0, le=100)
    canary_ready_threshold: int = Field(default=100, ge=0, le=100)
    session_affinity: SessionAffinity | None = None
    metrics: list[CanaryMetric] = Field(default_factory=list)
    webhooks: list[CanaryWebhook] = Field(default_factory=list)
    alerts: list[CanaryAlert] = Field(default_factory=list)

    @model_validator(mode="after")
    def _flagger_rules(self) -> CanaryAnalysis:
        """Flagger's effective values; it accepts any mix of iterations, stepWeight and stepWeights.

        ``iterations`` > 0 selects blue/green (or A/B) and the weights are unused; otherwise
        ``stepWeight`` sets every step even beside ``stepWeights``, and the weight promotion
        starts at is the last ``stepWeights`` entry when there is one (``maxWeight`` is then
        ignored), else ``maxWeight``, else 100 (Flagger's ``maxWeight()``).
        """
        self.interval = max(self.interval, _MIN_INTERVAL)
        self.threshold = max(self.threshold, 1)
        if self.step_weights:
            self.max_weight = min(100, self.step_weights[-1])
        elif not self.max_weight:
            self.max_weight = 100
        return self

    @property
    def strategy(self) -> Literal["ab-testing", "blue-green", "canary"]:
        """How traffic moves: A/B (match + iterations), blue/green (iterations) or weighted."""
        if self.iterations and self.match:
            return "ab-testing"
        return "blue-green" if self.iterations else "canary"


MeshProvider = Literal[
    "apisix", "appmesh", "appmesh:v1beta2", "contour", "gatewayapi:v1", "gatewayapi:v1beta1", "gloo", "istio",
    "knative", "kubernetes", "kuma", "linkerd", "nginx", "osm", "skipper", "smi:v1alpha1", "smi:v1alpha2",
    "smi:v1alpha3", "traefik",
]  # fmt: skip


class CanarySpec(SpecModel):
    provider: MeshProvider | None = None
    metrics_server: str | None = None
    target_ref: WorkloadReference
    autoscaler_ref: AutoscalerReference | None = None
    ingress_ref: TargetReference | None = None
    route_ref: TargetReference | None = None
    upstream_ref: CrossNamespaceTargetReference | None = None
    service: CanaryService
    analysis: CanaryAnalysis | None = None
    progress_deadline_seconds: int = Field(default=600, ge=0)
    skip_analysis: bool = False
    revert_on_deletion: bool = False
    suspend: bool = False


class Canary(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["Canary"] = "Canary"
    spec: CanarySpec

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        legacy = spec.pop("canaryAnalysis", None)
        if legacy is not None and "analysis" not in spec:
            spec["analysis"] = legacy
        return spec


MetricProviderType = Literal[
    "prometheus", "datadog", "cloudwatch", "newrelic", "graphite", "influxdb", "stackdriver", "dynatrace",
    "keptn", "splunk", "externalmetrics",
]  # fmt: skip


class MetricProvider(SpecModel):
    type: MetricProviderType = "prometheus"
    address: str | None = None
    secret_ref: LocalObjectReference | None = None
    headers: dict[str, list[str]] = Field(default_factory=dict)
    region: str | None = None
    insecure_skip_verify: bool = False


class MetricTemplateSpec(SpecModel):
    provider: MetricProvider = Field(default_factory=MetricProvider)
    query: str = Field(min_length=1)


class MetricTemplate(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    spec: MetricTemplateSpec


class AlertProviderSpec(SpecModel):
    type: Literal["slack", "msteams", "rocket", "discord", "gchat"]
    channel: str = "general"
    username: str = "flagger"
    address: str | None = None
    proxy: str | None = None
    secret_ref: LocalObjectReference | None = None


class AlertProvider(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["AlertProvider"] = "AlertProvider"
    spec: AlertProviderSpec
