"""HelmRelease (``helm.toolkit.fluxcd.io``): install and upgrade a chart with Flux semantics.

Defaults follow helm-controller v2: ``timeout`` 5m, ``maxHistory`` 5, ``chart.spec.interval``
= the release's ``interval``, install CRDs ``Create``, upgrade CRDs ``Skip``,
``upgrade.remediation.remediateLastFailure`` = ``retries > 0``.
The deprecated ``install.skipCRDs: true`` (all versions) becomes ``crds: Skip`` (an explicit
``crds`` wins). Older apiVersions (v2beta1, v2beta2): ``chart.spec.valuesFile`` goes first in
``valuesFiles``, post-renderer ``patchesStrategicMerge``/``patchesJson6902`` become ``patches``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from airflow_flux_provider.specs.base import FluxObject, SpecModel, dns_label, dns_subdomain
from airflow_flux_provider.specs.duration import Duration
from airflow_flux_provider.specs.legacy import merge_legacy_patches
from airflow_flux_provider.specs.refs import (
    CommonMetadata,
    DependencyReference,
    HealthCheckExpression,
    ImageOverride,
    KubeConfigReference,
    Patch,
    Selector,
)
from airflow_flux_provider.specs.sources import ChartSelection, upgrade_chart_spec

CRDPolicy = Literal["Skip", "Create", "CreateReplace"]


class HelmChartTemplateMetadata(SpecModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ChartSourceReference(SpecModel):
    """The chart's source; it may live in another namespace than the release."""

    api_version: str | None = None
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    name: str = Field(min_length=1)
    namespace: str | None = None


class HelmChartTemplateSpec(ChartSelection):
    """``spec.chart.spec``; ``interval`` defaults to the release's."""

    source_ref: ChartSourceReference
    interval: Duration | None = None


class HelmChartTemplate(SpecModel):
    """``spec.chart``: the HelmChart the release's chart comes from."""

    metadata: HelmChartTemplateMetadata | None = None
    spec: HelmChartTemplateSpec


class ChartReference(SpecModel):
    """``spec.chartRef``: an existing OCIRepository, HelmChart or ExternalArtifact."""

    api_version: str | None = None
    kind: Literal["OCIRepository", "HelmChart", "ExternalArtifact"]
    name: str = Field(min_length=1)
    namespace: str | None = None


class ValuesReference(SpecModel):
    """``valuesFrom`` entry: values read from a ConfigMap or Secret key."""

    kind: Literal["ConfigMap", "Secret"]
    name: str = Field(min_length=1)
    values_key: str = Field(default="values.yaml", pattern=r"^[\-._a-zA-Z0-9]+$")
    target_path: str | None = Field(default=None, pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$")
    optional: bool = False
    literal: bool = False


class InstallRemediation(SpecModel):
    """What to do when an install fails; a negative ``retries`` retries for ever."""

    retries: int = 0
    ignore_test_failures: bool | None = None  # None: follow test.ignoreFailures
    remediate_last_failure: bool = False


class UpgradeRemediation(InstallRemediation):
    """Like install remediation; ``remediateLastFailure`` defaults to ``retries > 0``."""

    strategy: Literal["rollback", "uninstall"] = "rollback"

    @model_validator(mode="after")
    def _default(self) -> UpgradeRemediation:
        if "remediate_last_failure" not in self.model_fields_set:
            self.remediate_last_failure = self.retries > 0
        return self


class ActionStrategy(SpecModel):
    name: Literal["RemediateOnFailure", "RetryOnFailure"] = "RemediateOnFailure"
    retry_interval: Duration | None = None

    @model_validator(mode="after")
    def _retry_interval_needs_retry(self) -> ActionStrategy:
        if self.retry_interval is not None and self.name != "RetryOnFailure":
            raise ValueError("retryInterval can only be set when name is RetryOnFailure")
        return self


class _ReleaseAction(SpecModel):
    timeout: Duration | None = None
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False


class _ChartAction(_ReleaseAction):
    disable_open_api_validation: bool = Field(default=False, alias="disableOpenAPIValidation")
    disable_schema_validation: bool = False
    disable_take_ownership: bool = False
    strategy: ActionStrategy | None = None


class Install(_ChartAction):
    remediation: InstallRemediation = Field(default_factory=InstallRemediation)
    replace: bool = False
    crds: CRDPolicy = "Create"
    create_namespace: bool = False
    server_side_apply: bool | None = None


class Upgrade(_ChartAction):
    remediation: UpgradeRemediation = Field(default_factory=UpgradeRemediation)
    force: bool = False
    preserve_values: bool = False
    cleanup_on_fail: bool = False
    crds: CRDPolicy = "Skip"
    chart_name_change_strategy: Literal["Reinstall", "InPlaceUpdate"] = "Reinstall"
    server_side_apply: Literal["enabled", "disabled", "auto"] | None = None


class TestFilter(SpecModel):
    __test__ = False  # not a pytest test class

    name: str = Field(min_length=1)
    exclude: bool = False


class Test(SpecModel):
    __test__ = False

    enable: bool = False
    timeout: Duration | None = None
    ignore_failures: bool = False
    filters: list[TestFilter] = Field(default_factory=list)


class Rollback(_ReleaseAction):
    force: bool = False
    recreate: bool = False
    cleanup_on_fail: bool = False
    server_side_apply: Literal["enabled", "disabled", "auto"] | None = None


class Uninstall(SpecModel):
    timeout: Duration | None = None
    disable_hooks: bool = False
    keep_history: bool = False
    disable_wait: bool = False
    deletion_propagation: Literal["background", "foreground", "orphan"] = "background"


class DriftIgnoreRule(SpecModel):
    paths: list[str] = Field(min_length=1)
    target: Selector | None = None


class DriftDetection(SpecModel):
    mode: Literal["disabled", "warn", "enabled"] = "disabled"
    ignore: list[DriftIgnoreRule] = Field(default_factory=list)


class KustomizePostRenderer(SpecModel):
    patches: list[Patch] = Field(default_factory=list)
    images: list[ImageOverride] = Field(default_factory=list)


class PostRenderer(SpecModel):
    kustomize: KustomizePostRenderer | None = None


class WaitStrategy(SpecModel):
    name: Literal["poller", "legacy"] = "poller"


class HelmReleaseSpec(SpecModel):
    chart: HelmChartTemplate | None = None
    chart_ref: ChartReference | None = None
    interval: Duration
    kube_config: KubeConfigReference | None = None
    suspend: bool = False
    release_name: str | None = Field(default=None, min_length=1, max_length=53)
    target_namespace: str | None = Field(default=None, min_length=1, max_length=63)
    storage_namespace: str | None = Field(default=None, min_length=1, max_length=63)

    @field_validator("release_name")
    @classmethod
    def _release_name(cls, value: str | None) -> str | None:
        """Helm's rule: a DNS-1123 subdomain of at most 53 characters (it lands on helm's command line)."""
        return None if value is None else dns_subdomain(value, "releaseName", 53)

    @field_validator("target_namespace", "storage_namespace")
    @classmethod
    def _namespaces(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else dns_label(value, to_camel(str(info.field_name)))

    depends_on: list[DependencyReference] = Field(default_factory=list)
    health_check_exprs: list[HealthCheckExpression] = Field(default_factory=list)
    timeout: Duration = timedelta(minutes=5)
    max_history: int = 5
    service_account_name: str | None = None
    persistent_client: bool = True
    drift_detection: DriftDetection | None = None
    install: Install = Field(default_factory=Install)
    upgrade: Upgrade = Field(default_factory=Upgrade)
    test: Test = Field(default_factory=Test)
    rollback: Rollback = Field(default_factory=Rollback)
    uninstall: Uninstall = Field(default_factory=Uninstall)
    values_from: list[ValuesReference] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    post_renderers: list[PostRenderer] = Field(default_factory=list)
    common_metadata: CommonMetadata | None = None
    wait_strategy: WaitStrategy | None = None
    post_render_strategy: Literal["combined", "nohooks", "separate"] | None = None

    @model_validator(mode="after")
    def _one_chart(self) -> HelmReleaseSpec:
        if (self.chart is None) == (self.chart_ref is None):
            raise ValueError(
                "exactly one of spec.chart (a chart from a HelmRepository/GitRepository/Bucket) "
                "or spec.chartRef (an OCIRepository/HelmChart) must be set"
            )
        if self.chart is not None and self.chart.spec.interval is None:
            self.chart.spec.interval = self.interval
        return self


class HelmRelease(FluxObject):
    api_group = "helm.toolkit.fluxcd.io"
    api_versions = ("v2", "v2beta2", "v2beta1")
    kind: Literal["HelmRelease"] = "HelmRelease"
    spec: HelmReleaseSpec

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        install = spec.get("install")
        if isinstance(install, dict) and "skipCRDs" in install:
            install = dict(install)
            if install.pop("skipCRDs") is True:
                install.setdefault("crds", "Skip")
            spec["install"] = install
        if version == "v2":
            return spec
        chart = spec.get("chart")
        if isinstance(chart, dict) and isinstance(chart.get("spec"), dict):
            spec["chart"] = {**chart, "spec": upgrade_chart_spec(dict(chart["spec"]))}
        renderers = spec.get("postRenderers")
        if isinstance(renderers, list):
            spec["postRenderers"] = [
                {**item, "kustomize": merge_legacy_patches(dict(item["kustomize"]))}
                if isinstance(item, dict) and isinstance(item.get("kustomize"), dict)
                else item
                for item in renderers
            ]
        return spec
