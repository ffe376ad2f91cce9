"""``NotificationError``: a provider or alert that cannot be built or a message that was not delivered."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class NotificationError(FluxError):
    """Raised for a bad Provider/Alert configuration or a failed delivery (never with a secret in it)."""
