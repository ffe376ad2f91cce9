"""Task-state listener: every finished task becomes a Flux-style Event, optionally sent to a provider.

Each success or failure is emitted on the event bus
(:func:`airflow_flux_provider.events.emit`) as ``TaskInstance/<dag_id>/<task_id>``, so
any in-process subscriber sees it. With ``[flux] task_events_conn_id`` set, an Alert
built from the ``[flux] task_events_*`` options forwards matching events to that
provider, with Flux's duplicate limiting. Options (env ``AIRFLOW__FLUX__<OPTION>``):

=========================  ==================================================  ===========
option                     meaning                                             default
=========================  ==================================================  ===========
task_events_conn_id        ``flux_notification`` connection (address, token)   (off)
task_events_provider       provider type (slack, msteams, generic, …)          ``generic``
task_events_channel        channel / routing key                               —
task_events_severity       ``error`` (failures only) or ``info`` (all)         ``error``
task_events_dags           comma-separated DAG ids                             all DAGs
=========================  ==================================================  ===========

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
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from airflow_flux_provider.events import emit
from airflow_flux_provider.notifications.alert import Alert, EventSource
from airflow_flux_provider.notifications.dispatcher import Dispatcher, Route
from airflow_flux_provider.notifiers import event_from_context, notification_provider

log = logging.getLogger(__name__)

_lock = threading.Lock()
_subscribed: list[Dispatcher] = []


def dispatcher_from_config() -> Dispatcher | None:
    """The Alert + provider the ``[flux] task_events_*`` options describe (``None`` when off)."""
    from airflow.configuration import conf

    conn_id = conf.get("flux", "task_events_conn_id", fallback="")
    if not conn_id:
        return None
    severity = conf.get("flux", "task_events_severity", fallback="error")
    dags = [d.strip() for d in conf.get("flux", "task_events_dags", fallback="").split(",") if d.strip()]
    alert = Alert(
        name="task-events",
        namespace="airflow",
        provider=conn_id,
        sources=tuple(EventSource("TaskInstance", "*", dag) for dag in dags or ["*"]),
        severity="info" if severity == "info" else "error",
    )
    provider = notification_provider(
        conf.get("flux", "task_events_provider", fallback="generic"),
        conn_id,
        channel=conf.get("flux", "task_events_channel", fallback="") or None,
    )
    return Dispatcher([Route(alert, provider)])


def _ensure_dispatcher() -> None:
    with _lock:
        if _subscribed:
            return
        dispatcher = dispatcher_from_config()
        if dispatcher is not None:
            dispatcher.subscribe()
            _subscribed.append(dispatcher)


def publish(task_instance: Any, error: object) -> None:
    """Emit the task's outcome as an Event; never raises."""
    try:
        _ensure_dispatcher()
        context = {"ti": task_instance, "run_id": getattr(task_instance, "run_id", ""), "exception": error}
        emit(event_from_context(context))
    except Exception:
        log.exception("Flux task events: could not publish the state of %s", task_instance)


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
