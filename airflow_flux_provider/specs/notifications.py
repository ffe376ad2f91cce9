"""Notification kinds (``notification.toolkit.fluxcd.io``): Provider, Alert and Receiver.

Every served version (v1beta1 to v1beta3, and v1) has the shape used here; fields that
v1beta3 deprecated (``Provider.proxy``, ``Alert.summary``) are still accepted, and the
``interval`` that v1beta1/v1beta2 Providers carried is accepted and ignored.
Alert and Provider stop at v1beta3; only Receiver has reached v1.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from airflow_flux_provider.specs.base import FluxObject, SpecModel
from airflow_flux_provider.specs.duration import Duration, Timeout
from airflow_flux_provider.specs.refs import LocalObjectReference

GROUP = "notification.toolkit.fluxcd.io"
VERSIONS = ("v1beta3", "v1beta2", "v1beta1")

ProviderType = Literal[
    "slack", "discord", "msteams", "rocket", "generic", "generic-hmac", "github", "gitlab", "gitea",
    "giteapullrequestcomment", "bitbucketserver", "bitbucket", "azuredevops", "googlechat", "googlepubsub",
    "webex", "sentry", "azureeventhub", "telegram", "lark", "matrix", "opsgenie", "alertmanager", "grafana",
    "githubdispatch", "githubpullrequestcomment", "gitlabmergerequestcomment", "pagerduty", "datadog",
    "nats", "zulip", "otel", "zoom", "incident.io",
]  # fmt: skip

_COMMIT_STATUS_TYPES = ("github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops")

#: Kinds whose events an Alert can select and whose objects a Receiver can annotate.
EventSourceKind = Literal[
    "Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart", "HelmRepository",
    "ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "OCIRepository", "ArtifactGenerator",
    "ExternalArtifact",
]  # fmt: skip


class ProviderSpec(SpecModel):
    type: ProviderType
    interval: Duration | None = None
    channel: str | None = Field(default=None, max_length=2048)
    username: str | None = Field(default=None, max_length=2048)
    address: str | None = Field(default=None, max_length=2048)
    timeout: Timeout = timedelta(seconds=15)
    proxy: str | None = Field(default=None, pattern=r"^(http|https)://.*$")
    proxy_secret_ref: LocalObjectReference | None = None
    secret_ref: LocalObjectReference | None = None
    cert_secret_ref: LocalObjectReference | None = None
    commit_status_expr: str | None = None
    service_account_name: str | None = None
    suspend: bool = False

    @model_validator(mode="after")
    def _commit_status_types(self) -> ProviderSpec:
        if self.commit_status_expr is not None and self.type not in _COMMIT_STATUS_TYPES:
            raise ValueError(
                "commitStatusExpr is only supported by the Git commit-status types "
                f"({', '.join(_COMMIT_STATUS_TYPES)})"
            )
        return self


class Provider(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["Provider"] = "Provider"
    spec: ProviderSpec


class EventSource(SpecModel):
    """Which objects' events an Alert forwards; ``name: '*'`` selects all of a kind."""

    api_version: str | None = None
    kind: EventSourceKind
    name: str = Field(min_length=1)
    namespace: str | None = None
    match_labels: dict[str, str] = Field(default_factory=dict)


class AlertSpec(SpecModel):
    provider_ref: LocalObjectReference
    event_severity: Literal["info", "error"] = "info"
    event_sources: list[EventSource] = Field(min_length=1)
    inclusion_list: list[str] = Field(default_factory=list)
    exclusion_list: list[str] = Field(default_factory=list)
    event_metadata: dict[str, str] = Field(default_factory=dict)
    summary: str | None = Field(default=None, max_length=255)
    suspend: bool = False


class Alert(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["Alert"] = "Alert"
    spec: AlertSpec


ReceiverType = Literal[
    "generic", "generic-hmac", "generic-oidc", "github", "gitlab", "bitbucket", "harbor", "dockerhub",
    "quay", "gcr", "nexus", "acr", "cdevents",
]  # fmt: skip


class ReceiverResource(SpecModel):
    """An object to reconcile when a webhook arrives; ``name: '*'`` with ``matchLabels``."""

    api_version: str | None = None
    kind: EventSourceKind
    name: str = Field(min_length=1)
    namespace: str | None = None
    match_labels: dict[str, str] = Field(default_factory=dict)
    filter: str | None = None


class ReceiverSpec(SpecModel):
    type: ReceiverType
    interval: Duration = timedelta(minutes=10)
    events: list[str] = Field(default_factory=list)
    resources: list[ReceiverResource] = Field(min_length=1)
    resource_filter: str | None = None
    secret_ref: LocalObjectReference | None = None
    oidc_providers: list[dict[str, object]] = Field(default_factory=list)
    suspend: bool = False

    @model_validator(mode="after")
    def _credentials(self) -> ReceiverSpec:
        oidc = self.type == "generic-oidc"
        if oidc and (self.secret_ref is not None or not self.oidc_providers):
            raise ValueError("a generic-oidc receiver takes oidcProviders (at least one) and no secretRef")
        if not oidc and self.oidc_providers:
            raise ValueError("oidcProviders can only be set when type is generic-oidc")
        if not oidc and self.secret_ref is None:
            raise ValueError(
                f"secretRef is required for type {self.type}: add secretRef.name naming the token's Secret "
                "(an Airflow connection of that id)"
            )
        return self


class Receiver(FluxObject):
    api_group = GROUP
    api_versions = ("v1", "v1beta2", "v1beta1")
    kind: Literal["Receiver"] = "Receiver"
    spec: ReceiverSpec
