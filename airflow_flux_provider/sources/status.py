"""A source's ``.status`` as source-controller writes it: Ready and the stored artifact.

A fetch that stores (or finds up to date) an artifact is Ready ``Succeeded`` with
``stored artifact for revision '<revision>'`` and ``.status.artifact`` describing it, so
``kubectl get gitrepositories`` and ``flux get sources`` show what was fetched. A failed
fetch is Ready False with the kind's failure reason; the last artifact stays, as Flux keeps
serving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_flux_provider.kube.record import ObjectStatus
from airflow_flux_provider.sources.artifacts import Artifact


@dataclass
class SourceStatus(ObjectStatus):
    """Ready plus ``artifact`` (only written when a fetch produced one; else kept as read)."""

    FAILURE_REASONS: ClassVar[dict[str, str]] = {
        "GitRepository": "GitOperationFailed",
        "Bucket": "BucketOperationFailed",
        "OCIRepository": "OCIArtifactPullFailed",
        "HelmRepository": "IndexationFailed",
        "HelmChart": "ChartPullFailed",
    }

    artifact: Artifact | None = None

    def fields(self) -> dict[str, Any]:
        if self.artifact is None:
            return {}
        artifact = self.artifact
        _, _, relative = artifact.url.rpartition("/sha256/")
        return {
            "artifact": {
                "path": f"sha256/{relative}" if relative else artifact.url,
                "url": artifact.url,
                "revision": artifact.revision,
                "digest": artifact.digest,
                "lastUpdateTime": artifact.last_update_time,
                "size": artifact.size,
            }
        }

    def fetched(self, artifact: Artifact) -> None:
        """Ready with ``artifact``; the stored one stays when it holds the same content (a fetch
        into another store, the CLI's temporary one, writes nothing)."""
        previous = self.extra.get("artifact") or {}
        if (previous.get("revision"), previous.get("digest")) != (artifact.revision, artifact.digest):
            self.artifact = artifact
        self.set_ready(True, "Succeeded", f"stored artifact for revision '{artifact.revision}'")
