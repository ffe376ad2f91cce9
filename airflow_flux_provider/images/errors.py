"""The image automation family of errors."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class ImageError(FluxError):
    """Scanning, choosing or writing back an image tag failed in a way the user can fix."""


class NoTagError(ImageError):
    """No tag qualifies under an ImagePolicy (an outcome, not a crash: the sensor keeps waiting)."""
