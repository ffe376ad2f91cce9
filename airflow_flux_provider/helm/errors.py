"""The helm capability's error family."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class HelmError(FluxError):
    """Anything about a HelmRelease a user has to fix or look at."""


class ChartError(HelmError):
    """The chart cannot be found, read, or does not satisfy ``chart.spec.version``."""


class ValuesError(HelmError):
    """A ``valuesFrom`` reference, values file or ``targetPath`` cannot be resolved."""


class HelmCommandError(HelmError):
    """The helm binary failed; the message carries its (scrubbed) last error lines."""


class ReleaseError(HelmError):
    """The release did not reach the desired state (failed, remediated, or out of retries)."""


class DriftError(HelmError):
    """``driftDetection`` is misconfigured (a bad ignore path or target selector)."""
