"""Flux's notification-controller, inbound half: webhook receivers (plain Python, no Airflow).

The Airflow side, :mod:`airflow_flux_provider.plugins.receivers`, serves these in the API
server and turns an accepted :class:`Delivery` into DAG runs and asset events.
"""

from airflow_flux_provider.receivers.errors import (
    PayloadTooLarge,
    ReceiverError,
    ReceiverSuspended,
    TooManyRequests,
    Unauthorized,
    UnknownHook,
    WebhookRejected,
)
from airflow_flux_provider.receivers.guard import RATE_PERIOD, Footprint, GuardSettings, admit
from airflow_flux_provider.receivers.index import SUPPORTED_TYPES, ReceiverIndex, receiver_from_manifest
from airflow_flux_provider.receivers.path import webhook_digest, webhook_path
from airflow_flux_provider.receivers.receiver import (
    DAGS_ANNOTATION,
    Delivery,
    WebhookReceiver,
)
from airflow_flux_provider.receivers.verification import signature_matches, verify

__all__ = [
    "DAGS_ANNOTATION",
    "RATE_PERIOD",
    "SUPPORTED_TYPES",
    "Delivery",
    "Footprint",
    "GuardSettings",
    "PayloadTooLarge",
    "ReceiverError",
    "ReceiverIndex",
    "ReceiverSuspended",
    "TooManyRequests",
    "Unauthorized",
    "UnknownHook",
    "WebhookReceiver",
    "WebhookRejected",
    "admit",
    "receiver_from_manifest",
    "signature_matches",
    "verify",
    "webhook_digest",
    "webhook_path",
]
