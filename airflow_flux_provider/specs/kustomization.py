"""Kustomization (``kustomize.toolkit.fluxcd.io``): build a path of a source and apply it.

Defaults follow kustomize-controller: ``retryInterval`` = ``interval``; ``timeout`` =
``interval - 30s`` when unset, and never below 30s (explicit values too).
v1beta1/v1beta2 ``patchesStrategicMerge``/``patchesJson6902`` become ``patches`` and the
removed ``validation`` field (v1beta1/v1beta2) is dropped.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_flux_provider.specs.base import FluxObject, SpecModel
from airflow_flux_provider.specs.duration import Duration
from airflow_flux_provider.specs.legacy import drop, merge_legacy_patches
from airflow_flux_provider.specs.refs import (
    CommonMetadata,
    DependencyReference,
    HealthCheckExpression,
    ImageOverride,
    KubeConfigReference,
    LocalObjectReference,
    NamespacedObjectKindReference,
    Patch,
    Selector,
)

_VAR_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_MIN_TIMEOUT = timedelta(seconds=30)


class KustomizationSourceReference(SpecModel):
    api_version: str | None = None
    kind: Literal["GitRepository", "OCIRepository", "Bucket", "ExternalArtifact"]
    name: str = Field(min_length=1)
    namespace: str | None = None


class SubstituteReference(SpecModel):
    """A ConfigMap or Secret whose keys become postBuild variables."""

    kind: Literal["ConfigMap", "Secret"]
    name: str = Field(min_length=1)
    optional: bool = False


class PostBuild(SpecModel):
    """``${var}`` substitution applied to the built manifests."""

    substitute: dict[str, str] = Field(default_factory=dict)
    substitute_from: list[SubstituteReference] = Field(default_factory=list)
    substitute_strategy: Literal["WithVariables", "Always"] = "WithVariables"

    @field_validator("substitute")
    @classmethod
    def _variable_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _VAR_NAME.match(name):
                raise ValueError(
                    f"variable name {name!r} is not valid: use letters, digits and '_', "
                    "not starting with a digit (e.g. CLUSTER_NAME)"
                )
        return value


class Decryption(SpecModel):
    provider: Literal["sops"]
    secret_ref: LocalObjectReference | None = None
    service_account_name: str | None = None


class DriftIgnoreRule(SpecModel):
    """JSON pointers whose drift is not corrected (optionally only on ``target``)."""

    paths: list[str] = Field(min_length=1)
    target: Selector | None = None


class KustomizationSpec(SpecModel):
    source_ref: KustomizationSourceReference
    path: str = ""
    interval: Duration
    retry_interval: Duration = timedelta(0)  # = interval when unset
    timeout: Duration = timedelta(0)  # = interval - 30s when unset, at least 30s
    prune: bool
    deletion_policy: Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"] = "MirrorPrune"
    wait: bool = False
    health_checks: list[NamespacedObjectKindReference] = Field(default_factory=list)
    health_check_exprs: list[HealthCheckExpression] = Field(default_factory=list)
    depends_on: list[DependencyReference] = Field(default_factory=list)
    target_namespace: str | None = Field(default=None, min_length=1, max_length=63)
    name_prefix: str | None = Field(default=None, min_length=1, max_length=200)
    name_suffix: str | None = Field(default=None, min_length=1, max_length=200)
    common_metadata: CommonMetadata | None = None
    patches: list[Patch] = Field(default_factory=list)
    images: list[ImageOverride] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    ignore_missing_components: bool = False
    build_metadata: list[Literal["originAnnotations", "transformerAnnotations"]] = Field(default_factory=list)
    post_build: PostBuild | None = None
    force: bool = False
    ignore: list[DriftIgnoreRule] = Field(default_factory=list)
    service_account_name: str | None = None
    kube_config: KubeConfigReference | None = None
    decryption: Decryption | None = None
    suspend: bool = False

    @model_validator(mode="after")
    def _timing_defaults(self) -> KustomizationSpec:
        if "retry_interval" not in self.model_fields_set:
            self.retry_interval = self.interval
        timeout = self.timeout if "timeout" in self.model_fields_set else self.interval - _MIN_TIMEOUT
        self.timeout = max(_MIN_TIMEOUT, timeout)
        return self


class Kustomization(FluxObject):
    api_group = "kustomize.toolkit.fluxcd.io"
    api_versions = ("v1", "v1beta2", "v1beta1")
    kind: Literal["Kustomization"] = "Kustomization"
    spec: KustomizationSpec

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        return spec if version == "v1" else merge_legacy_patches(drop(spec, "validation"))
