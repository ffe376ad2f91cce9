"""A HelmRelease's ``.status`` as helm-controller writes it, stored as every Flux object's is
(:mod:`~airflow_flux_provider.kube.record`).

``history`` holds the release snapshots (newest first, at most ten) as typed
:class:`~airflow_flux_provider.helm.state.Snapshot` values; beside it the failure counters
the remediation rules count against, what the last attempt was made of, and where the
release is stored. A snapshot that does not parse names its index and the repair.

``flux reconcile hr --force`` / ``--reset`` annotate ``reconcile.fluxcd.io/forceAt`` /
``resetAt`` with the same token as ``requestedAt``; :meth:`HelmReleaseStatus.handle_request`
decides, as helm-controller does, whether this run honours one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_flux_provider.helm.state import Snapshot
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.record import REQUESTED_AT, ObjectStatus, load_record

KIND = "HelmRelease"
FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"
_HANDLED = {FORCE_AT: "last_handled_force_at", RESET_AT: "last_handled_reset_at"}
_SNAPSHOTS = 10
_COUNTERS = {
    "failures": "failures",
    "install_failures": "installFailures",
    "upgrade_failures": "upgradeFailures",
}
_TEXTS = {
    "last_applied_revision": "lastAppliedRevision",  # v2beta1's; the Airflow layer still reads it
    "last_attempted_revision": "lastAttemptedRevision",
    "last_attempted_config_digest": "lastAttemptedConfigDigest",
    "last_attempted_release_action": "lastAttemptedReleaseAction",
    "observed_post_renderers_digest": "observedPostRenderersDigest",
    "storage_namespace": "storageNamespace",
    "release_name": "releaseName",  # ours: where the release was, to move it when the name changes
    "last_handled_force_at": "lastHandledForceAt",
    "last_handled_reset_at": "lastHandledResetAt",
}


@dataclass
class HelmReleaseStatus(ObjectStatus):
    history: list[Snapshot] = field(default_factory=list)
    failures: int = 0
    install_failures: int = 0
    upgrade_failures: int = 0
    last_applied_revision: str = ""
    last_attempted_revision: str = ""
    last_attempted_config_digest: str = ""
    last_attempted_release_action: str = ""
    observed_post_renderers_digest: str = ""
    storage_namespace: str = ""
    release_name: str = ""
    last_handled_force_at: str = ""
    last_handled_reset_at: str = ""

    _FIELDS: ClassVar[dict[str, str]] = {"history": "history", **_COUNTERS, **_TEXTS}

    def fields(self) -> dict[str, Any]:
        values = {camel: getattr(self, attr) for attr, camel in {**_COUNTERS, **_TEXTS}.items()}
        return {"history": [s.to_status() for s in self.history], **values}

    def read_fields(self, status: dict[str, Any]) -> None:
        history = []
        for index, entry in enumerate(status.get("history") or []):
            try:
                history.append(Snapshot.from_status(entry))
            except ValueError as err:
                raise ValueError(f"status.history[{index}]: {err}") from None
        self.history = history
        for attr, camel in _COUNTERS.items():
            setattr(self, attr, int(status.get(camel) or 0))
        for attr, camel in _TEXTS.items():
            setattr(self, attr, str(status.get(camel) or ""))

    def snapshot(self, version: int) -> Snapshot | None:
        """Our record of helm revision ``version`` (None: not made by us, so unmanaged)."""
        return next((s for s in self.history if s.version == version), None)

    def remember(self, snapshot: Snapshot) -> None:
        kept = [s for s in self.history if s.version != snapshot.version]
        self.history = [snapshot, *kept][:_SNAPSHOTS]

    def handle_request(self, annotation: str) -> bool:
        """Whether to honour ``forceAt``/``resetAt`` now: set, equal to a ``requestedAt`` not yet
        handled, and not handled before. Its value is recorded as handled either way (helm-controller's
        rule), so a token that came without a matching ``requestedAt`` is never honoured later."""
        annotations = ((self.live or {}).get("metadata") or {}).get("annotations") or {}
        value = annotations.get(annotation)
        if value is None:
            return False
        previous = getattr(self, _HANDLED[annotation])
        setattr(self, _HANDLED[annotation], str(value))
        requested = annotations.get(REQUESTED_AT)
        return value == requested and requested != self.last_handled_reconcile_at and previous != value

    def reset_failures(self) -> None:
        self.failures = self.install_failures = self.upgrade_failures = 0


def load_status(
    cluster: Cluster, name: str, namespace: str, *, manifest: dict[str, Any] | None = None
) -> HelmReleaseStatus:
    """The stored status; ``manifest`` creates the HelmRelease object if it is missing when saved."""
    return load_record(cluster, KIND, name, namespace, record_type=HelmReleaseStatus, manifest=manifest)
