"""Typed models of the ``.status`` Flux and Flagger controllers write, kind by kind.

They serve twice: as the ``status`` schema of the generated CRDs (:mod:`.crds`), and as
the check a stored status passes before a task trusts it (a status edited by hand or
written by something else must fail with the field that is wrong, not deep inside a
reconcile). Known fields are typed; unknown ones are kept (``extra="allow"``, and
``x-kubernetes-preserve-unknown-fields`` in the CRD), so a newer writer loses nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from airflow_flux_provider.specs.base import SpecModel


class StatusModel(SpecModel):
    """Strict types for known fields, unknown fields kept as they are."""

    model_config = ConfigDict(extra="allow")


class Condition(StatusModel):
    """A ``metav1.Condition`` (Flagger adds ``lastUpdateTime``)."""

    type: str = Field(min_length=1)
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int | None = None


class ReconcileStatus(StatusModel):
    """What every Flux kind reports: conditions, the generation they describe, the last request."""

    observed_generation: int = -1
    conditions: list[Condition] = Field(default_factory=list)
    last_handled_reconcile_at: str | None = None


class Artifact(StatusModel):
    """A source's stored artifact (``.status.artifact``)."""

    path: str
    url: str
    revision: str = ""
    digest: str | None = None
    last_update_time: str = ""
    size: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class SourceStatus(ReconcileStatus):
    artifact: Artifact | None = None
    url: str | None = None


class InventoryEntry(StatusModel):
    """``<namespace>_<name>_<group>_<kind>`` and the API version it was applied at."""

    id: str = Field(min_length=3)
    v: str


class ResourceInventory(StatusModel):
    entries: list[InventoryEntry] = Field(default_factory=list)


class ReconcileSnapshot(StatusModel):
    """One entry of a Kustomization's ``.status.history`` (newest first, at most five)."""

    digest: str
    first_reconciled: str
    last_reconciled: str
    last_reconciled_duration: str
    last_reconciled_status: str
    total_reconciliations: int
    metadata: dict[str, str] = Field(default_factory=dict)


class KustomizationStatus(ReconcileStatus):
    last_applied_revision: str = ""
    last_applied_origin_revision: str | None = None
    last_attempted_revision: str = ""
    inventory: ResourceInventory | None = None
    history: list[ReconcileSnapshot] = Field(default_factory=list)


class ReleaseSnapshot(StatusModel):
    """One Helm release revision as helm-controller records it in ``.status.history``."""

    name: str
    namespace: str
    version: int
    chart_name: str
    chart_version: str
    app_version: str | None = None
    config_digest: str
    first_deployed: str | None = None
    last_deployed: str | None = None
    deleted: str | None = None
    status: str
    test_hooks: dict[str, Any] | None = None
    oci_digest: str | None = None


class HelmReleaseStatus(ReconcileStatus):
    history: list[ReleaseSnapshot] = Field(default_factory=list)
    last_applied_revision: str = ""
    last_attempted_revision: str = ""
    last_attempted_generation: int | None = None
    last_attempted_config_digest: str = ""
    last_attempted_values_checksum: str | None = None
    last_attempted_release_action: str = ""
    observed_post_renderers_digest: str = ""
    failures: int = 0
    install_failures: int = 0
    upgrade_failures: int = 0
    last_handled_force_at: str | None = None
    last_handled_reset_at: str | None = None
    storage_namespace: str = ""
    helm_chart: str | None = None
    inventory: ResourceInventory | None = None


class ScanResult(StatusModel):
    tag_count: int
    scan_time: str = ""
    latest_tags: list[str] = Field(default_factory=list)


class ImageRepositoryStatus(ReconcileStatus):
    canonical_image_name: str | None = None
    last_scan_result: ScanResult | None = None
    observed_exclusion_list: list[str] = Field(default_factory=list)


class ImageRef(StatusModel):
    name: str
    tag: str
    digest: str | None = None


class ImagePolicyStatus(ReconcileStatus):
    latest_ref: ImageRef | None = None
    observed_previous_ref: ImageRef | None = None


class ImageUpdateAutomationStatus(ReconcileStatus):
    last_automation_run_time: str | None = None
    last_push_commit: str | None = None
    last_push_time: str | None = None


class ReceiverStatus(ReconcileStatus):
    webhook_path: str | None = None


class CanaryStatus(StatusModel):
    """Flagger's ``Canary.status``."""

    phase: str = ""
    canary_weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    last_applied_spec: str = ""
    last_promoted_spec: str = ""
    last_transition_time: str = ""
    tracked_configs: dict[str, str] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)


#: The status model of every kind that has a status subresource (the rest have none, as upstream).
STATUS_MODELS: dict[str, type[StatusModel]] = {
    "GitRepository": SourceStatus,
    "HelmRepository": SourceStatus,
    "HelmChart": SourceStatus,
    "Bucket": SourceStatus,
    "OCIRepository": SourceStatus,
    "Kustomization": KustomizationStatus,
    "HelmRelease": HelmReleaseStatus,
    "ImageRepository": ImageRepositoryStatus,
    "ImagePolicy": ImagePolicyStatus,
    "ImageUpdateAutomation": ImageUpdateAutomationStatus,
    "Receiver": ReceiverStatus,
    "Canary": CanaryStatus,
}
