"""Image automation (``image.toolkit.fluxcd.io``): ImageRepository, ImagePolicy and
ImageUpdateAutomation.

v1alpha2, v1beta1, v1beta2 and v1 share the spec shape used here. What differs is the data
an ImageUpdateAutomation commit message template sees: before v1 it also had
``.Updated`` (removed in v1), which :attr:`ImageUpdateAutomation.legacy_template_data`
tells the commit code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_flux_provider.git.refs import RefSpec, check_branch
from airflow_flux_provider.oci.errors import ImageReferenceError
from airflow_flux_provider.oci.reference import ImageReference
from airflow_flux_provider.patterns import PatternError, regex
from airflow_flux_provider.specs.base import FluxObject, SpecModel
from airflow_flux_provider.specs.duration import Duration, Timeout
from airflow_flux_provider.specs.errors import SpecError
from airflow_flux_provider.specs.refs import LabelSelector, LocalObjectReference, NamespacedObjectReference
from airflow_flux_provider.specs.semver import SemverRange
from airflow_flux_provider.specs.sources import GitRepositoryRef

GROUP = "image.toolkit.fluxcd.io"
VERSIONS = ("v1", "v1beta2", "v1beta1", "v1alpha2")


class AccessFrom(SpecModel):
    namespace_selectors: list[LabelSelector] = Field(default_factory=list)


class ImageRepositorySpec(SpecModel):
    image: str = Field(min_length=1)
    interval: Duration
    timeout: Timeout = timedelta(0)  # = interval when unset
    secret_ref: LocalObjectReference | None = None
    service_account_name: str | None = None
    cert_secret_ref: LocalObjectReference | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    access_from: AccessFrom | None = None
    suspend: bool = False
    exclusion_list: list[str] = Field(default_factory=lambda: [r"^.*\.sig$"])
    provider: Literal["generic", "aws", "azure", "gcp"] = "generic"
    insecure: bool = False

    @field_validator("image")
    @classmethod
    def _no_tag_or_scheme(cls, value: str) -> str:
        try:
            ref = ImageReference.parse(value)
        except ImageReferenceError as err:
            raise ValueError(err.message) from None
        if ref.tag or ref.digest:
            raise ValueError(
                f"image {value!r} must be a repository without tag or digest (e.g. ghcr.io/org/app)"
            )
        return value

    @field_validator("exclusion_list")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            _compile(pattern, "exclusionList")
        return value

    @model_validator(mode="after")
    def _timeout_default(self) -> ImageRepositorySpec:
        if "timeout" not in self.model_fields_set:
            self.timeout = self.interval
        return self


class ImageRepository(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["ImageRepository"] = "ImageRepository"
    spec: ImageRepositorySpec


class SemVerPolicy(SpecModel):
    range: SemverRange


class OrderedPolicy(SpecModel):
    order: Literal["asc", "desc"] = "asc"


class ImagePolicyChoice(SpecModel):
    """Exactly one of ``semver``, ``alphabetical`` or ``numerical``."""

    semver: SemVerPolicy | None = None
    alphabetical: OrderedPolicy | None = None
    numerical: OrderedPolicy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImagePolicyChoice:
        chosen = [n for n in ("semver", "alphabetical", "numerical") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"set exactly one of semver, alphabetical or numerical (got {', '.join(chosen) or 'none'})"
            )
        return self


class TagFilter(SpecModel):
    """Keep tags matching ``pattern``; ``extract`` (e.g. ``$ts``) is what the policy compares."""

    pattern: str = ""
    extract: str = ""

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        _compile(value, "filterTags.pattern")
        return value


class ImagePolicySpec(SpecModel):
    image_repository_ref: NamespacedObjectReference
    policy: ImagePolicyChoice
    filter_tags: TagFilter | None = None
    digest_reflection_policy: Literal["Never", "IfNotPresent", "Always"] = "Never"
    interval: Duration | None = None
    suspend: bool = False

    @model_validator(mode="after")
    def _interval_with_always(self) -> ImagePolicySpec:
        if (self.digest_reflection_policy == "Always") != (self.interval is not None):
            raise ValueError("interval must be set when (and only when) digestReflectionPolicy is Always")
        return self


class ImagePolicy(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["ImagePolicy"] = "ImagePolicy"
    spec: ImagePolicySpec


class AutomationSourceReference(SpecModel):
    api_version: str | None = None
    kind: Literal["GitRepository"] = "GitRepository"
    name: str = Field(min_length=1)
    namespace: str | None = None


class GitCheckout(SpecModel):
    ref: GitRepositoryRef


class CommitUser(SpecModel):
    name: str | None = None
    email: str = Field(min_length=1)


class SigningKey(SpecModel):
    type: Literal["gpg", "ssh"] = "gpg"
    secret_ref: LocalObjectReference


class CommitSpec(SpecModel):
    author: CommitUser
    signing_key: SigningKey | None = None
    message_template: str | None = None
    message_template_values: dict[str, str] = Field(default_factory=dict)


class PushSpec(SpecModel):
    """Where commits go: ``branch``, then ``refspec`` (Flux pushes both), with ``options`` as push options."""

    branch: str | None = None
    refspec: str | None = None
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        return None if value is None else check_branch(value, "push.branch")

    @field_validator("refspec")
    @classmethod
    def _refspec(cls, value: str | None) -> str | None:
        return None if value is None else str(RefSpec.parse(value))

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        for key, option in value.items():
            if not key or any(c in f"{key}{option}" for c in "\n\r\0"):
                raise ValueError(
                    f"push option {key!r} must be a non-empty key, and neither it nor its value may "
                    "contain a line break or NUL (git sends each option as one line)"
                )
        return value


class GitSpec(SpecModel):
    checkout: GitCheckout | None = None
    commit: CommitSpec
    push: PushSpec | None = None


class UpdateStrategy(SpecModel):
    path: str = ""
    strategy: Literal["Setters"] = "Setters"


class ImageUpdateAutomationSpec(SpecModel):
    source_ref: AutomationSourceReference
    git: GitSpec | None = None
    interval: Duration
    policy_selector: LabelSelector | None = None
    update: UpdateStrategy = Field(default_factory=UpdateStrategy)
    suspend: bool = False


class ImageUpdateAutomation(FluxObject):
    api_group = GROUP
    api_versions = VERSIONS
    kind: Literal["ImageUpdateAutomation"] = "ImageUpdateAutomation"
    spec: ImageUpdateAutomationSpec

    @property
    def legacy_template_data(self) -> bool:
        """True before v1: commit templates may use ``.Updated`` as well as ``.Changed``."""
        return self.version != "v1"

    def to_manifest(self, *, latest: bool = False) -> dict[str, Any]:
        """As :meth:`FluxObject.to_manifest`; migrating refuses a template that v1 cannot run."""
        template = self.spec.git.commit.message_template if self.spec.git else None
        if latest and self.legacy_template_data and template and ".Updated" in template:
            raise SpecError(
                "the commit messageTemplate uses .Updated, which image.toolkit.fluxcd.io/v1 removed; "
                "rewrite it with .Changed (e.g. .Changed.FileChanges) before migrating",
                obj=self.ref,
                field="spec.git.commit.messageTemplate",
            )
        return super().to_manifest(latest=latest)


def _compile(pattern: str, field: str) -> Any:
    try:
        return regex(pattern, what=field)
    except PatternError as err:
        raise ValueError(err.message) from None
