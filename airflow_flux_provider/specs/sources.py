"""Source kinds (``source.toolkit.fluxcd.io``): GitRepository, HelmRepository, HelmChart,
Bucket and OCIRepository.

Older apiVersions (v1beta1, v1beta2) are normalised to the v1 shape: ``gitImplementation``
(v1beta1/v1beta2 GitRepository) and ``accessFrom`` (v1beta1/v1beta2 sources, and the v1
HelmRepository that still carries it, deprecated) are dropped, as the v1 controllers
ignore them; HelmChart ``valuesFile`` (v1beta1/v1beta2) is prepended to ``valuesFiles``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_flux_provider.git.refs import check_branch, ref_name_problem
from airflow_flux_provider.specs.base import FluxObject, SpecModel
from airflow_flux_provider.specs.duration import Duration, Timeout
from airflow_flux_provider.specs.errors import shown
from airflow_flux_provider.specs.legacy import drop
from airflow_flux_provider.specs.refs import LocalObjectReference
from airflow_flux_provider.specs.semver import SemverRange

GROUP = "source.toolkit.fluxcd.io"
VERSIONS = ("v1", "v1beta2", "v1beta1")
_SIXTY_SECONDS = timedelta(seconds=60)


class GitRepositoryRef(SpecModel):
    """Which commit to check out; precedence commit > name > tag > semver > branch."""

    branch: str | None = None
    tag: str | None = None
    semver: SemverRange | None = None
    name: str | None = None
    commit: str | None = None

    @model_validator(mode="after")
    def _default_branch(self) -> GitRepositoryRef:
        if not any((self.branch, self.tag, self.semver, self.name, self.commit)):
            self.branch = "master"
        return self

    @field_validator("name")
    @classmethod
    def _full_ref(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or value.endswith("/")):
            raise ValueError(
                f"ref.name {value!r} must be a full Git ref like refs/heads/main, "
                "without a leading or trailing '/'"
            )
        if value is not None and (problem := ref_name_problem(value.removesuffix("^{}"))):
            raise ValueError(f"ref.name {value!r} is not a valid Git ref name: it {problem}")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        return None if value is None else check_branch(value, "ref.branch")


class GitRepositoryVerification(SpecModel):
    """Commit/tag signature verification."""

    mode: Literal["head", "HEAD", "Tag", "TagAndHEAD"] = "HEAD"
    secret_ref: LocalObjectReference


class GitRepositoryInclude(SpecModel):
    """Copy another GitRepository's artifact (``from_path``) into this one at ``to_path``."""

    repository: LocalObjectReference
    from_path: str | None = None
    to_path: str | None = None


class GitRepositorySpec(SpecModel):
    url: str
    secret_ref: LocalObjectReference | None = None
    provider: Literal["generic", "aws", "azure", "github"] = "generic"
    service_account_name: str | None = None
    interval: Duration
    timeout: Timeout = _SIXTY_SECONDS
    ref: GitRepositoryRef = Field(default_factory=lambda: GitRepositoryRef(branch="master"))
    verify: GitRepositoryVerification | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    ignore: str | None = None
    suspend: bool = False
    recurse_submodules: bool = False
    include: list[GitRepositoryInclude] = Field(default_factory=list)
    sparse_checkout: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _service_account_needs_provider(self) -> GitRepositorySpec:
        if self.service_account_name and self.provider not in ("azure", "aws"):
            raise ValueError("serviceAccountName can only be set when provider is azure or aws")
        return self

    @field_validator("url")
    @classmethod
    def _git_url(cls, value: str) -> str:
        if not re.match(r"^(http|https|ssh)://", value):
            scp = re.match(r"^([^@/]+@)?([^/:@]+):(?!//)(.+)$", value)
            hint = "use an http://, https:// or ssh:// URL"
            if scp:
                user, host, path = scp.groups()
                suggestion = f"ssh://{user or ''}{host}/{path}"
                hint = f"the scp-like form is not accepted; write {shown(suggestion)}"
            raise ValueError(f"url {shown(value)} is not a Git URL Flux accepts: {hint}")
        return value


class GitRepository(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["GitRepository"] = "GitRepository"
    spec: GitRepositorySpec

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        return spec if version == "v1" else drop(spec, "gitImplementation", "accessFrom")


class HelmRepositorySpec(SpecModel):
    url: str = Field(min_length=1)
    type: Literal["default", "oci"] = "default"
    interval: Duration = timedelta(minutes=1)
    timeout: Timeout = timedelta(minutes=1)
    secret_ref: LocalObjectReference | None = None
    cert_secret_ref: LocalObjectReference | None = None
    pass_credentials: bool = False
    insecure: bool = False
    provider: Literal["generic", "aws", "azure", "gcp"] = "generic"
    suspend: bool = False

    @model_validator(mode="after")
    def _oci_url(self) -> HelmRepositorySpec:
        if self.type == "oci" and not self.url.startswith("oci://"):
            raise ValueError(f"url {shown(self.url)} must start with oci:// when type is oci")
        if self.type == "default" and not self.url.startswith(("http://", "https://")):
            raise ValueError(
                f"url {shown(self.url)} must be an http(s) chart repository URL; "
                "for an OCI registry set type: oci and use an oci:// URL"
            )
        return self


class HelmRepository(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["HelmRepository"] = "HelmRepository"
    spec: HelmRepositorySpec

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        return drop(spec, "accessFrom")


class HelmChartSourceReference(SpecModel):
    """The chart's source, in the HelmChart's namespace."""

    api_version: str | None = None
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    name: str = Field(min_length=1)


class OIDCIdentityMatch(SpecModel):
    """Regexes the keyless (Fulcio) certificate's issuer and subject must match."""

    issuer: str = Field(min_length=1)
    subject: str = Field(min_length=1)


class OCIVerification(SpecModel):
    """Signature verification of OCI artifacts (cosign or notation)."""

    provider: Literal["cosign", "notation"] = "cosign"
    secret_ref: LocalObjectReference | None = None
    match_oidc_identity: list[OIDCIdentityMatch] = Field(default_factory=list, alias="matchOIDCIdentity")


class OCIRepositoryVerification(OCIVerification):
    """OCI verification plus a self-hosted Sigstore trust root (``trusted_root.json``)."""

    trusted_root_secret_ref: LocalObjectReference | None = None


class ChartSelection(SpecModel):
    """Which chart and version, shared by HelmChart and a HelmRelease's ``chart.spec``."""

    chart: str = Field(min_length=1)
    version: str = "*"
    reconcile_strategy: Literal["ChartVersion", "Revision"] = "ChartVersion"
    values_files: list[str] = Field(default_factory=list)
    ignore_missing_values_files: bool = False
    verify: OCIVerification | None = None


class HelmChartSpec(ChartSelection):
    source_ref: HelmChartSourceReference
    interval: Duration
    suspend: bool = False

    @model_validator(mode="after")
    def _verify_needs_helm_repository(self) -> HelmChartSpec:
        if self.verify is not None and self.source_ref.kind != "HelmRepository":
            raise ValueError("verify is only supported when sourceRef.kind is HelmRepository")
        return self


def upgrade_chart_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """v1beta1/v1beta2 ``valuesFile`` (one file) goes first in ``valuesFiles``."""
    if "valuesFile" in spec:
        single = spec.pop("valuesFile")
        if single:
            spec["valuesFiles"] = [single, *(spec.get("valuesFiles") or [])]
    return spec


class HelmChart(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["HelmChart"] = "HelmChart"
    spec: HelmChartSpec

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        return spec if version == "v1" else upgrade_chart_spec(drop(spec, "accessFrom"))


class BucketSTSSpec(SpecModel):
    provider: Literal["aws", "ldap"]
    endpoint: str = Field(pattern=r"^(http|https)://.*$")
    secret_ref: LocalObjectReference | None = None
    cert_secret_ref: LocalObjectReference | None = None


class BucketSpec(SpecModel):
    provider: Literal["generic", "aws", "gcp", "azure"] = "generic"
    bucket_name: str = Field(min_length=1)
    endpoint: str = Field(min_length=1)
    sts: BucketSTSSpec | None = None
    insecure: bool = False
    region: str | None = None
    prefix: str | None = None
    secret_ref: LocalObjectReference | None = None
    cert_secret_ref: LocalObjectReference | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    service_account_name: str | None = None
    interval: Duration
    timeout: Timeout = _SIXTY_SECONDS
    ignore: str | None = None
    suspend: bool = False

    @model_validator(mode="after")
    def _credentials(self) -> BucketSpec:
        sts = self.sts
        if sts is not None and sts.provider != {"aws": "aws", "generic": "ldap"}.get(self.provider):
            raise ValueError(
                "sts is supported only with provider aws (sts.provider aws) or generic (sts.provider ldap)"
            )
        if sts is not None and sts.provider == "aws" and (sts.secret_ref or sts.cert_secret_ref):
            raise ValueError("the aws STS provider takes no sts.secretRef or sts.certSecretRef")
        if self.service_account_name and (self.provider == "generic" or self.secret_ref is not None):
            raise ValueError("serviceAccountName needs provider aws, gcp or azure and no secretRef")
        return self

    @field_validator("endpoint")
    @classmethod
    def _no_scheme(cls, value: str) -> str:
        if "://" in value:
            raise ValueError(
                f"endpoint {shown(value)} must be a host[:port] without scheme; "
                "set insecure: true for plain HTTP"
            )
        return value


class Bucket(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["Bucket"] = "Bucket"
    spec: BucketSpec

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        return spec if version == "v1" else drop(spec, "accessFrom")


class OCIRepositoryRef(SpecModel):
    """Which artifact to pull; precedence digest > semver > tag, default tag ``latest``."""

    digest: str | None = None
    semver: SemverRange | None = None
    semver_filter: str | None = None
    tag: str | None = None

    @model_validator(mode="after")
    def _default_tag(self) -> OCIRepositoryRef:
        if not any((self.digest, self.semver, self.tag)):
            self.tag = "latest"
        return self


class OCILayerSelector(SpecModel):
    media_type: str | None = None
    operation: Literal["extract", "copy"] = "extract"


class OCIRepositorySpec(SpecModel):
    url: str
    ref: OCIRepositoryRef = Field(default_factory=lambda: OCIRepositoryRef(tag="latest"))
    layer_selector: OCILayerSelector | None = None
    provider: Literal["generic", "aws", "azure", "gcp"] = "generic"
    secret_ref: LocalObjectReference | None = None
    verify: OCIRepositoryVerification | None = None
    service_account_name: str | None = None
    cert_secret_ref: LocalObjectReference | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    interval: Duration
    timeout: Timeout = _SIXTY_SECONDS
    ignore: str | None = None
    insecure: bool = False
    suspend: bool = False

    @field_validator("url")
    @classmethod
    def _oci_url(cls, value: str) -> str:
        if not value.startswith("oci://"):
            raise ValueError(
                f"url {shown(value)} must be an oci:// URL of a repository, e.g. oci://ghcr.io/org/manifests"
            )
        return value


class OCIRepository(FluxObject):
    api_group = GROUP
    api_versions = ("v1", "v1beta2")
    kind: Literal["OCIRepository"] = "OCIRepository"
    spec: OCIRepositorySpec
