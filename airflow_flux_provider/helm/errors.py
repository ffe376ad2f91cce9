"""The helm capability's error family; each error carries the Ready reason it ends a reconcile with."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from airflow_flux_provider.errors import FluxError


class Reason(StrEnum):
    """The reason of a HelmRelease's Ready condition after a reconcile, as helm-controller writes it."""

    INSTALL_SUCCEEDED = "InstallSucceeded"
    UPGRADE_SUCCEEDED = "UpgradeSucceeded"
    RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"
    PROGRESSING = "Progressing"
    RECONCILIATION_FAILED = "ReconciliationFailed"
    RETRIES_EXCEEDED = "RetriesExceeded"
    MISSING_ROLLBACK_TARGET = "MissingRollbackTarget"
    DRIFT_CORRECTION_FAILED = "DriftCorrectionFailed"


class HelmError(FluxError):
    """Anything about a HelmRelease a user has to fix or look at."""

    reason: ClassVar[Reason] = Reason.RECONCILIATION_FAILED


class ChartError(HelmError):
    """The chart cannot be found, read, or does not satisfy ``chart.spec.version``."""


class ValuesError(HelmError):
    """A ``valuesFrom`` reference, values file or ``targetPath`` cannot be resolved."""


class HelmCommandError(HelmError):
    """The helm binary failed; the message carries its (scrubbed) last error lines."""


class ReleaseError(HelmError):
    """The release did not reach the desired state (failed, remediated, or out of retries)."""


class RetriesExceededError(ReleaseError):
    """The install or upgrade failed more often than ``remediation.retries`` allows; only a change
    to the chart or values (or a reset) lets it try again. Flux marks the release Stalled."""

    reason = Reason.RETRIES_EXCEEDED


class MissingRollbackTargetError(ReleaseError):
    """A rollback remediation found no earlier successful revision to return to."""

    reason = Reason.MISSING_ROLLBACK_TARGET


class DriftCorrectionError(ReleaseError):
    """``driftDetection.mode: enabled`` could not write the drifted fields back."""

    reason = Reason.DRIFT_CORRECTION_FAILED


class DriftError(HelmError):
    """``driftDetection`` is misconfigured (a bad ignore path or target selector)."""
