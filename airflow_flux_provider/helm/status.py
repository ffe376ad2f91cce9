"""A HelmRelease's ``.status``, stored as the Kustomization's is (:mod:`~airflow_flux_provider.kube.record`).

Adds helm-controller's fields to :class:`~airflow_flux_provider.kube.record.StatusRecord`:
failure counters, the last attempted config digest and action, and ``history`` as Flux's
release snapshots (newest first), read and written as :class:`~airflow_flux_provider.helm.state.Snapshot`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_flux_provider.helm.errors import ReleaseError
from airflow_flux_provider.helm.state import Snapshot
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.record import StatusRecord, load_record

KIND = "HelmRelease"
_SNAPSHOTS = 10


@dataclass
class HelmReleaseStatus(StatusRecord):
    failures: int = 0
    install_failures: int = 0
    upgrade_failures: int = 0
    last_attempted_config_digest: str = ""
    last_attempted_release_action: str = ""
    observed_post_renderers_digest: str = ""
    release_name: str = ""
    storage_namespace: str = ""

    _EXTRA: ClassVar[dict[str, str]] = {
        "failures": "failures",
        "install_failures": "installFailures",
        "upgrade_failures": "upgradeFailures",
        "last_attempted_config_digest": "lastAttemptedConfigDigest",
        "last_attempted_release_action": "lastAttemptedReleaseAction",
        "observed_post_renderers_digest": "observedPostRenderersDigest",
        "release_name": "releaseName",
        "storage_namespace": "storageNamespace",
    }

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        status.update({camel: getattr(self, attr) for attr, camel in self._EXTRA.items()})
        return status

    @classmethod
    def from_status(cls, kind: str, name: str, namespace: str, status: dict[str, Any]) -> HelmReleaseStatus:
        record = super().from_status(kind, name, namespace, status)
        assert isinstance(record, HelmReleaseStatus)
        for attr, camel in cls._EXTRA.items():
            if camel in status:
                setattr(record, attr, status[camel])
        return record

    def snapshots(self) -> list[Snapshot]:
        """``history`` as typed snapshots, newest first; a corrupt entry names itself and the repair."""
        found = []
        for index, entry in enumerate(self.history):
            try:
                found.append(Snapshot.from_status(entry))
            except ValueError as err:
                raise ReleaseError(
                    f"the stored release snapshot is unreadable: {err}; fix or remove the entry "
                    "(kubectl edit), or reset the release",
                    obj=f"{KIND}/{self.namespace}/{self.name}",
                    field=f"status.history[{index}]",
                ) from None
        return found

    def snapshot(self, version: int) -> Snapshot | None:
        """Our record of helm revision ``version`` (None: not made by us → unmanaged)."""
        return next((s for s in self.snapshots() if s.version == version), None)

    def remember(self, snapshot: Snapshot) -> None:
        kept = [s for s in self.snapshots() if s.version != snapshot.version]
        self.history = [s.to_status() for s in [snapshot, *kept][:_SNAPSHOTS]]

    def reset_failures(self) -> None:
        self.failures = self.install_failures = self.upgrade_failures = 0


def load_status(
    cluster: Cluster, name: str, namespace: str, *, manifest: dict[str, Any] | None = None
) -> HelmReleaseStatus:
    """The stored status; ``manifest`` creates the HelmRelease object if it is missing when saved."""
    return load_record(cluster, KIND, name, namespace, record_type=HelmReleaseStatus, manifest=manifest)
