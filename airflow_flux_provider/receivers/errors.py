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


class TooManyRequests(WebhookRejected):
    """The receiver's rate limit is used up; ``retry_after`` says when it has room again."""

    status = 429

    def __init__(self, message: str, *, obj: str | None = None, retry_after: int = 60) -> None:
        self.retry_after = retry_after
        super().__init__(message, obj=obj)
