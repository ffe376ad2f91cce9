"""The ``.status`` of the image automation objects, as the image controllers write it.

ImageRepository: ``lastScanResult`` (tag count, scan time, the ten latest tags in plain
descending string order) and ``canonicalImageName``; ImagePolicy: ``latestRef`` and, when
it moved, ``observedPreviousRef``; ImageUpdateAutomation: ``lastAutomationRunTime`` and,
when it pushed, ``lastPushCommit``/``lastPushTime``. Each also gets Ready; fields the run
did not produce stay as read. Unlike the controllers, ``scanTime`` and ``lastAutomationRunTime``
move only when the scan or the repository changed: a run that finds nothing new writes nothing
(no status write every interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.registry import ScanResult
from airflow_flux_provider.kube.record import ObjectStatus, now

_LATEST_TAGS = 10


@dataclass
class ImageStatus(ObjectStatus):
    """Ready plus the kind's fields this run produced (``written``); the rest kept as read."""

    FAILURE_REASONS: ClassVar[dict[str, str]] = {
        "ImageRepository": "ReadOperationFailed",
        "ImagePolicy": "ReconciliationFailed",
        "ImageUpdateAutomation": "UpdateFailed",
    }

    written: dict[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return dict(self.written)

    def scanned(self, scan: ScanResult) -> None:
        previous = self.extra.get("lastScanResult") or {}
        unchanged = isinstance(previous, dict) and previous.get("revision") == scan.digest
        self.written = {
            "canonicalImageName": scan.canonical,
            "lastScanResult": {
                "revision": scan.digest,
                "tagCount": len(scan.tags),
                "scanTime": previous.get("scanTime") if unchanged else now(),
                "latestTags": sorted(scan.tags, reverse=True)[:_LATEST_TAGS],
            },
        }
        self.set_ready(True, "Succeeded", f"successful scan: found {len(scan.tags)} tags")

    def resolved(self, choice: PolicyResult) -> None:
        latest = {"name": choice.image, "tag": choice.tag}
        if choice.digest:
            latest["digest"] = choice.digest
        previous = self.extra.get("latestRef")
        self.written = {"latestRef": latest}
        message = f"Latest image tag for {choice.image} resolved to {choice.tag}"
        if choice.digest:
            message += f" with digest {choice.digest}"
        if isinstance(previous, dict) and previous != latest:
            self.written["observedPreviousRef"] = previous
            before = f"{previous.get('name')}:{previous.get('tag')}"
            if previous.get("digest"):
                before += f"@{previous['digest']}"
            message += f" (previously {before})"
        self.set_ready(True, "Succeeded", message)

    def pushed(self, revision: str | None, branch: str) -> None:
        stamp = now()
        if revision is None:  # nothing to push: a Ready status (the last push's) stays as it is
            self.written = {} if "lastAutomationRunTime" in self.extra else {"lastAutomationRunTime": stamp}
            if self.is_ready:
                self.set_ready(True, self.reason, self.message)
            else:
                self.set_ready(True, "Succeeded", "repository up-to-date")
            return
        self.written = {"lastAutomationRunTime": stamp}
        commit = revision.rpartition(":")[2]
        self.written.update(lastPushCommit=commit, lastPushTime=stamp)
        self.set_ready(True, "Succeeded", f"pushed commit '{commit[:7]}' to branch '{branch}'")
