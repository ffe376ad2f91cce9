"""Receiver errors: a bad Receiver configuration, or a webhook request we refuse (with its HTTP status)."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class ReceiverError(FluxError):
    """A Receiver manifest or its token cannot be used; the message says which field to fix."""


class WebhookRejected(ReceiverError):
    """A webhook request that is answered with ``status`` and triggers nothing."""

    status = 400


class Unauthorized(WebhookRejected):
    """Missing or wrong signature / token."""

    status = 401


class UnknownHook(WebhookRejected):
    status = 404


class PayloadTooLarge(WebhookRejected):
    status = 413


class ReceiverSuspended(WebhookRejected):
    status = 503
