"""Flux's notification-controller, outbound half: Providers, Alerts and the dispatcher.

Plain Python (no Airflow). The Airflow layer is :mod:`airflow_flux_provider.notifiers`
(callbacks) and :mod:`airflow_flux_provider.plugins.task_events` (task-state listener).
"""

from airflow_flux_provider.notifications.alert import Alert, EventSource, LabelLookup
from airflow_flux_provider.notifications.catalog import PROVIDER_TYPES, build_provider, provider_from_spec
from airflow_flux_provider.notifications.dispatcher import Delivery, Dispatcher, Route
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.generic import sign
from airflow_flux_provider.notifications.http import Transport
from airflow_flux_provider.notifications.provider import NotificationProvider, ProviderSettings
from airflow_flux_provider.notifications.ratelimit import DuplicateLimiter, duplicate_key

__all__ = [
    "PROVIDER_TYPES",
    "Alert",
    "Delivery",
    "Dispatcher",
    "DuplicateLimiter",
    "EventSource",
    "LabelLookup",
    "NotificationError",
    "NotificationProvider",
    "ProviderSettings",
    "Route",
    "Transport",
    "build_provider",
    "duplicate_key",
    "provider_from_spec",
    "sign",
]
