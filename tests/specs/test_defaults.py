"""Flux and Flagger defaults, as the controllers apply them when a field is left out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_flux_provider.specs import (
    Alert,
    Bucket,
    Canary,
    GitRepository,
    HelmChart,
    HelmRelease,
    HelmRepository,
    ImagePolicy,
    ImageRepository,
    ImageUpdateAutomation,
    Kustomization,
    MetricTemplate,
    OCIRepository,
    Provider,
    Receiver,
    parse_object,
)


def _obj(api_version: str, kind: str, spec: dict[str, Any]) -> Any:
    return parse_object({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": spec})


def test_metadata_namespace_defaults_to_default() -> None:
    repo = _obj("source.toolkit.fluxcd.io/v1", "GitRepository", {"url": "https://h/r", "interval": "1m"})
    assert repo.metadata.namespace == "default"
    assert repo.ref == "GitRepository/default/x"
    assert repo.metadata.labels == {} and repo.metadata.annotations == {}


def test_git_repository_defaults() -> None:
    repo = _obj("source.toolkit.fluxcd.io/v1", "GitRepository", {"url": "https://h/r", "interval": "5m"})
    assert isinstance(repo, GitRepository)
    assert repo.spec.ref.branch == "master"
    assert repo.spec.timeout == timedelta(seconds=60)
    assert repo.spec.provider == "generic"
    assert repo.spec.suspend is False and repo.spec.recurse_submodules is False


def test_git_ref_given_without_branch_keeps_what_was_given() -> None:
    repo = _obj(
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        {"url": "https://h/r", "interval": "5m", "ref": {"tag": "v1"}},
    )
    assert repo.spec.ref.tag == "v1" and repo.spec.ref.branch is None
    empty = _obj(
        "source.toolkit.fluxcd.io/v1", "GitRepository", {"url": "https://h/r", "interval": "5m", "ref": {}}
    )
    assert empty.spec.ref.branch == "master"


def test_other_source_defaults() -> None:
    helm = _obj("source.toolkit.fluxcd.io/v1", "HelmRepository", {"url": "https://charts.example.com"})
    assert isinstance(helm, HelmRepository)
    assert helm.spec.interval == timedelta(minutes=1) and helm.spec.timeout == timedelta(minutes=1)
    assert helm.spec.type == "default"
    bucket = _obj(
        "source.toolkit.fluxcd.io/v1", "Bucket", {"bucketName": "b", "endpoint": "s3:9000", "interval": "5m"}
    )
    assert isinstance(bucket, Bucket)
    assert bucket.spec.provider == "generic" and bucket.spec.timeout == timedelta(seconds=60)
    assert bucket.spec.insecure is False
    oci = _obj("source.toolkit.fluxcd.io/v1", "OCIRepository", {"url": "oci://r/app", "interval": "5m"})
    assert isinstance(oci, OCIRepository)
    assert oci.spec.ref.tag == "latest"
    chart = _obj(
        "source.toolkit.fluxcd.io/v1",
        "HelmChart",
        {"chart": "web", "interval": "5m", "sourceRef": {"kind": "HelmRepository", "name": "charts"}},
    )
    assert isinstance(chart, HelmChart)
    assert chart.spec.version == "*" and chart.spec.reconcile_strategy == "ChartVersion"


@pytest.mark.parametrize(
    ("interval", "timeout", "expected_timeout"),
    [
        ("10m", None, timedelta(minutes=9, seconds=30)),  # interval - 30s
        ("45s", None, timedelta(seconds=30)),  # never below 30s
        ("10m", "2m", timedelta(minutes=2)),
        ("10m", "10s", timedelta(seconds=30)),  # explicit values are floored too
    ],
)
def test_kustomization_timeout(interval: str, timeout: str | None, expected_timeout: timedelta) -> None:
    spec: dict[str, Any] = {
        "interval": interval,
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "r"},
    }
    if timeout:
        spec["timeout"] = timeout
    ks = _obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", spec)
    assert isinstance(ks, Kustomization)
    assert ks.spec.timeout == expected_timeout
    assert ks.spec.retry_interval == ks.spec.interval
    assert ks.spec.path == "" and ks.spec.wait is False and ks.spec.deletion_policy == "MirrorPrune"


def test_kustomization_retry_interval_kept_when_given() -> None:
    spec = {
        "interval": "10m",
        "retryInterval": "1m",
        "prune": False,
        "sourceRef": {"kind": "Bucket", "name": "b"},
    }
    ks = _obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", spec)
    assert ks.spec.retry_interval == timedelta(minutes=1)


def test_helm_release_defaults() -> None:
    spec = {
        "interval": "10m",
        "chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "c"}}},
    }
    release = _obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", spec)
    assert isinstance(release, HelmRelease)
    assert release.spec.timeout == timedelta(minutes=5)
    assert release.spec.max_history == 5
    assert release.spec.persistent_client is True
    assert release.spec.chart is not None
    assert release.spec.chart.spec.interval == timedelta(minutes=10)  # = the release's interval
    assert release.spec.chart.spec.version == "*"
    assert release.spec.install.crds == "Create" and release.spec.upgrade.crds == "Skip"
    assert release.spec.install.remediation.retries == 0
    assert release.spec.install.remediation.remediate_last_failure is False
    assert release.spec.upgrade.remediation.remediate_last_failure is False
    assert release.spec.upgrade.remediation.strategy == "rollback"
    assert release.spec.test.enable is False
    assert release.spec.uninstall.deletion_propagation == "background"
    assert release.spec.values == {}


@pytest.mark.parametrize(("retries", "expected"), [(0, False), (3, True), (-1, False)])
def test_upgrade_remediate_last_failure_follows_retries(retries: int, expected: bool) -> None:
    spec = {
        "interval": "10m",
        "chartRef": {"kind": "OCIRepository", "name": "web"},
        "upgrade": {"remediation": {"retries": retries}},
    }
    release = _obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", spec)
    assert release.spec.upgrade.remediation.remediate_last_failure is expected


def test_image_defaults() -> None:
    repo = _obj(
        "image.toolkit.fluxcd.io/v1", "ImageRepository", {"image": "ghcr.io/org/app", "interval": "1h"}
    )
    assert isinstance(repo, ImageRepository)
    assert repo.spec.timeout == timedelta(hours=1)  # = interval
    assert repo.to_manifest()["spec"]["timeout"] == "60m"  # timeouts cannot say 1h
    assert repo.spec.exclusion_list == [r"^.*\.sig$"]
    policy = _obj(
        "image.toolkit.fluxcd.io/v1",
        "ImagePolicy",
        {"imageRepositoryRef": {"name": "app"}, "policy": {"alphabetical": {}}},
    )
    assert isinstance(policy, ImagePolicy)
    assert policy.spec.policy.alphabetical is not None and policy.spec.policy.alphabetical.order == "asc"
    assert policy.spec.digest_reflection_policy == "Never"
    automation = _obj(
        "image.toolkit.fluxcd.io/v1",
        "ImageUpdateAutomation",
        {"interval": "5m", "sourceRef": {"name": "repo"}},
    )
    assert isinstance(automation, ImageUpdateAutomation)
    assert automation.spec.source_ref.kind == "GitRepository"
    assert automation.spec.update.strategy == "Setters" and automation.spec.update.path == ""
    assert automation.legacy_template_data is False


def test_notification_defaults() -> None:
    provider = _obj("notification.toolkit.fluxcd.io/v1beta3", "Provider", {"type": "slack"})
    assert isinstance(provider, Provider) and provider.spec.timeout == timedelta(seconds=15)
    alert = _obj(
        "notification.toolkit.fluxcd.io/v1beta3",
        "Alert",
        {"providerRef": {"name": "slack"}, "eventSources": [{"kind": "HelmRelease", "name": "*"}]},
    )
    assert isinstance(alert, Alert) and alert.spec.event_severity == "info"
    receiver = _obj(
        "notification.toolkit.fluxcd.io/v1",
        "Receiver",
        {"type": "github", "secretRef": {"name": "t"}, "resources": [{"kind": "GitRepository", "name": "r"}]},
    )
    assert isinstance(receiver, Receiver) and receiver.spec.interval == timedelta(minutes=10)


def test_canary_defaults() -> None:
    spec = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "service": {"port": 80},
        "analysis": {
            "threshold": 0,
            "interval": "5s",
            "stepWeights": [5, 20, 60],
            "metrics": [{"name": "request-success-rate"}],
            "webhooks": [{"name": "load", "url": "http://loadtester/", "type": ""}],
            "alerts": [{"name": "on-call", "providerRef": {"name": "slack"}, "severity": ""}],
        },
    }
    canary = _obj("flagger.app/v1beta1", "Canary", spec)
    assert isinstance(canary, Canary)
    assert canary.spec.progress_deadline_seconds == 600
    assert canary.spec.service.port_name == "http"
    analysis = canary.spec.analysis
    assert analysis is not None
    assert analysis.interval == timedelta(seconds=10)  # raised to the 10s minimum
    assert analysis.threshold == 1  # <= 0 means 1
    assert analysis.max_weight == 60  # last of stepWeights
    assert analysis.primary_ready_threshold == 100 and analysis.canary_ready_threshold == 100
    assert analysis.metrics[0].interval == timedelta(minutes=1)
    assert analysis.webhooks[0].timeout == timedelta(seconds=10) and analysis.webhooks[0].type == "rollout"
    assert analysis.alerts[0].severity == "info"
    assert analysis.strategy == "canary"


def test_canary_strategies_and_weight_mixes() -> None:
    base = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "service": {"port": 80},
    }
    blue_green = _obj("flagger.app/v1beta1", "Canary", {**base, "analysis": {"iterations": 5}})
    assert blue_green.spec.analysis.strategy == "blue-green" and blue_green.spec.analysis.max_weight == 100
    ab = _obj(
        "flagger.app/v1beta1",
        "Canary",
        {**base, "analysis": {"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}},
    )
    assert ab.spec.analysis.strategy == "ab-testing"
    legacy = _obj(
        "flagger.app/v1beta1", "Canary", {**base, "canaryAnalysis": {"stepWeight": 10, "maxWeight": 50}}
    )
    assert legacy.spec.analysis.step_weight == 10 and legacy.spec.analysis.max_weight == 50
    # Flagger accepts every mix: iterations pick blue/green, the last stepWeights entry is the maximum
    mixed = _obj("flagger.app/v1beta1", "Canary", {**base, "analysis": {"iterations": 5, "stepWeight": 10}})
    assert mixed.spec.analysis.strategy == "blue-green"
    both = {"stepWeight": 10, "stepWeights": [20, 40], "maxWeight": 90}
    stepped = _obj("flagger.app/v1beta1", "Canary", {**base, "analysis": both})
    assert stepped.spec.analysis.strategy == "canary" and stepped.spec.analysis.max_weight == 40
    zero = _obj("flagger.app/v1beta1", "Canary", {**base, "analysis": {"stepWeight": 10, "maxWeight": 0}})
    assert zero.spec.analysis.max_weight == 100  # 0 means unset, as in Flagger


def test_metric_template_defaults_to_prometheus() -> None:
    template = _obj("flagger.app/v1beta1", "MetricTemplate", {"query": "sum(up)"})
    assert isinstance(template, MetricTemplate)
    assert template.spec.provider.type == "prometheus"
