"""The canary capability's error family."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class CanaryError(FluxError):
    """Bad canary input or a cluster fault; the message names the Canary, the field and the fix."""


class CanaryFailedError(CanaryError):
    """The analysis ended in ``Failed``: traffic is back on the primary, the canary scaled to zero."""
