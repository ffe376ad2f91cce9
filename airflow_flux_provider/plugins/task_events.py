"""Task-state listener: task outcomes and our operators' events reach the configured alerts.

Each task success or failure is emitted on the event bus
(:func:`airflow_flux_provider.events.emit`) as ``TaskInstance/<dag_id>/<task_id>``. In
every task process the bus is linked to one dispatcher, built on the first event, that
holds two optional sets of alerts: the Alert and Provider manifests under ``[flux]
notifications_path`` (secretRef names = Airflow connection ids), which see the reconcile /
release / canary events our operators emit, and an Alert built from the ``[flux]
task_events_*`` options for task outcomes. Duplicate events are dropped for 5 minutes
across every task process that reaches the same state (``[flux] notifications_state_path``;
by default beside an ``s3://`` artifact store, so across workers, else per machine).
The options are described in :mod:`airflow_flux_provider.settings`.

Enable it by registering :class:`FluxTaskEventsPlugin`: put a file in
``$AIRFLOW_HOME/plugins`` containing
``from airflow_flux_provider.plugins.task_events import FluxTaskEventsPlugin``, or list it
under ``plugins`` in the provider info. Listeners run in the worker's task process; a
failure to notify is logged and never changes the task's outcome.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from airflow_flux_provider import settings
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.events import Event, emit, subscribe
from airflow_flux_provider.notifiers import event_from_context

if TYPE_CHECKING:
    from airflow_flux_provider.notifications import Dispatcher, DuplicateLimiter

# Alerts, providers and specs load on the first event: every process that loads plugins
# imports this module, most of them never emit anything.

log = logging.getLogger(__name__)


def task_events_dispatcher() -> Dispatcher | None:
    """The Alert + provider the ``[flux] task_events_*`` options describe (``None`` when off)."""
    from airflow_flux_provider.notifications import Alert, Dispatcher, EventSource, Route
    from airflow_flux_provider.notifiers import notification_provider

    configured = settings.task_events()
    if configured is None:
        return None
    alert = Alert(
        name="task-events",
        namespace="airflow",
        provider=configured.conn_id,
        sources=tuple(EventSource("TaskInstance", "*", dag) for dag in configured.dags or ["*"]),
        severity=configured.severity,
    )
    provider = notification_provider(configured.provider, configured.conn_id, channel=configured.channel)
    return Dispatcher([Route(alert, provider)])


def manifest_dispatcher() -> Dispatcher | None:
    """Alerts and Providers from the YAML under ``[flux] notifications_path`` (``None`` when unset)."""
    from airflow_flux_provider.hooks.connections import NotificationCredentialsHook
    from airflow_flux_provider.notifications import Dispatcher
    from airflow_flux_provider.specs import load_manifests

    folder = settings.notifications_path()
    if folder is None:
        return None
    return Dispatcher.from_manifests(load_manifests(folder), NotificationCredentialsHook.lookup)


def configured_dispatcher() -> Dispatcher:
    """One dispatcher (one duplicate window, as Flux's event server) for every configured alert."""
    from airflow_flux_provider.notifications import Dispatcher, Route

    routes: list[Route] = []
    labels = None
    for build in (manifest_dispatcher, task_events_dispatcher):
        try:
            dispatcher = build()
        except Exception:
            log.exception("Flux notifications: %s failed; those alerts are off", build.__name__)
            continue
        if dispatcher is not None:
            routes += dispatcher.routes
            labels = labels or dispatcher.labels
    return Dispatcher(routes, limiter=shared_limiter(), labels=labels)


def shared_limiter() -> DuplicateLimiter:
    """The duplicate-alert window every task process reaches (``[flux] notifications_state_path``)."""
    from airflow_flux_provider.notifications import DuplicateLimiter
    from airflow_flux_provider.operators.sources import store_options

    url = settings.notifications_state_url()
    try:
        options = store_options(url)
    except FluxError as err:  # the store's connection: alerts still go out, deduplicated per process
        log.warning("Flux notifications: the duplicate window at %s is unreachable: %s", url, err)
        return DuplicateLimiter()
    return DuplicateLimiter(state_url=url, storage_options=options)


class EventBusLink:
    """Forwards bus events to the configured dispatcher, built on the first event (no I/O before)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dispatcher: Dispatcher | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def ensure_subscribed(self) -> None:
        with self._lock:
            if self._unsubscribe is None:
                self._unsubscribe = subscribe(self.forward)

    def forward(self, event: Event) -> None:
        with self._lock:
            if self._dispatcher is None:
                self._dispatcher = configured_dispatcher()
            dispatcher = self._dispatcher
        if dispatcher.routes:
            dispatcher.handle(event)

    def close(self) -> None:
        """Stop forwarding and forget the dispatcher (the configuration is read again next time)."""
        with self._lock:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._unsubscribe, self._dispatcher = None, None


BUS_LINK = EventBusLink()


def publish(task_instance: Any, error: object) -> None:
    """Emit the task's outcome as an Event; never raises."""
    try:
        BUS_LINK.ensure_subscribed()
        context = {"ti": task_instance, "run_id": getattr(task_instance, "run_id", ""), "exception": error}
        emit(event_from_context(context))
    except Exception:
        log.exception("Flux task events: could not publish the state of %s", task_instance)


@hookimpl
def on_starting(component: Any) -> None:
    """Before a task runs, so the events our operators emit reach the configured alerts."""
    BUS_LINK.ensure_subscribed()


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    publish(task_instance, None)


@hookimpl
def on_task_instance_failed(
    previous_state: Any, task_instance: Any, error: BaseException | str | None
) -> None:
    publish(task_instance, error if isinstance(error, BaseException) else None)


class FluxTaskEventsPlugin(AirflowPlugin):
    """Registers this module's task-state hooks as an Airflow listener."""

    name = "flux_task_events"
    listeners = [sys.modules[__name__]]
