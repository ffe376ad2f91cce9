"""Airflow notifiers that send task and DAG-run outcomes through the Flux notification providers.

Use them as callbacks on any task or DAG::

    from airflow_flux_provider.notifiers import SlackNotifier

    @dag(on_failure_callback=SlackNotifier(conn_id="slack-webhook", channel="ml-deployments"))

The connection (type ``flux_notification``) holds the address in its host (or an
``address`` extra) and the token / HMAC key / bot token in its password, as Flux's
Provider Secret does. The callback context becomes a Flux-style :class:`Event`
(``TaskInstance/<dag_id>/<task_id>`` or ``DagRun/<dag_id>/<run_id>``) so every provider
formats it exactly as it formats reconcile events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseNotifier, Context

from airflow_flux_provider.events import Event, ObjectReference, Severity
from airflow_flux_provider.hooks.connections import NotificationCredentialsHook, flux_credentials

if TYPE_CHECKING:
    from airflow_flux_provider.notifications import NotificationProvider

# The providers, specs and HTTP clients are imported when a notification is sent, so a DAG
# file that only constructs notifiers stays cheap to parse.

REPORTING_CONTROLLER = "airflow"
_FAILED_STATES = frozenset({"failed", "up_for_retry", "upstream_failed"})
_STATE_WORDS = {"success": "succeeded", "up_for_retry": "failed and will be retried"}


def _state(obj: Any) -> str:
    state = getattr(obj, "state", None)
    return str(getattr(state, "value", state) or "")


def event_from_context(context: Mapping[str, Any], message: str | None = None) -> Event:
    """The Event a task or DAG callback context describes (DAG callbacks carry ``reason``)."""
    dag_run, ti = context.get("dag_run"), context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = str(getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", "") or getattr(ti, "dag_id", ""))
    run_id = str(context.get("run_id") or getattr(dag_run, "run_id", "") or "")
    exception = context.get("exception")
    metadata = {"dag_id": dag_id, "run_id": run_id}
    if "reason" in context or ti is None:
        state = _state(dag_run) or ("failed" if "fail" in str(context.get("reason", "")) else "success")
        failed = state == "failed"
        obj = ObjectReference(kind="DagRun", name=run_id, namespace=dag_id)
        reason = "DagRunFailed" if failed else "DagRunSucceeded"
        text = f"DAG run {run_id} {_STATE_WORDS.get(state, state)}"
        if context.get("reason"):
            text += f": {context['reason']}"
    else:
        state = _state(ti) or ("failed" if exception else "success")
        failed = state in _FAILED_STATES or exception is not None
        task_id = str(ti.task_id)
        map_index = getattr(ti, "map_index", -1)
        name = task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"
        obj = ObjectReference(kind="TaskInstance", name=name, namespace=dag_id)
        reason = {"up_for_retry": "TaskUpForRetry", "success": "TaskSucceeded"}.get(
            state, "TaskFailed" if failed else "TaskSucceeded"
        )
        text = f"Task {name} in DAG run {run_id} {_STATE_WORDS.get(state, state.replace('_', ' '))}"
        if isinstance(exception, BaseException):
            text += f": {type(exception).__name__}: {exception}"
        elif exception:
            text += f": {exception}"
        metadata.update(task_id=task_id, try_number=str(getattr(ti, "try_number", "")))
        log_url = getattr(ti, "log_url", None)
        if log_url:
            metadata["log_url"] = str(log_url)
    severity: Severity = "error" if failed else "info"
    return Event(
        involved_object=obj,
        severity=severity,
        reason=reason,
        message=message or text,
        metadata={k: v for k, v in metadata.items() if v},
        reporting_controller=REPORTING_CONTROLLER,
    )


def notification_provider(
    provider_type: str,
    conn_id: str,
    *,
    channel: str | None = None,
    username: str | None = None,
    address: str | None = None,
    timeout: float = 15.0,
    proxy: str | None = None,
) -> NotificationProvider:
    """The provider a notifier's arguments and connection describe (validated as a Provider spec)."""
    from pydantic import ValidationError

    from airflow_flux_provider.notifications import NotificationError, provider_from_spec
    from airflow_flux_provider.specs import ObjectMeta, Provider, format_duration
    from airflow_flux_provider.specs.notifications import ProviderSpec

    spec: dict[str, Any] = {"type": provider_type, "timeout": format_duration(timedelta(seconds=timeout))}
    spec.update(
        {k: v for k, v in {"channel": channel, "username": username, "address": address}.items() if v}
    )
    if proxy:
        spec["proxy"] = proxy
    try:
        validated = ProviderSpec.model_validate(spec)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise NotificationError(f"invalid notifier settings: {problems}", obj=f"notifier {conn_id}") from None
    manifest = Provider.model_construct(
        api_version=Provider.served_api_versions()[0],
        kind="Provider",
        metadata=ObjectMeta.model_construct(name=conn_id, namespace="airflow"),
        spec=validated,
    )
    credentials = flux_credentials(NotificationCredentialsHook, f"notifier {conn_id}", conn_id=conn_id)
    return provider_from_spec(manifest, credentials)


class FluxNotifier(BaseNotifier):
    """Sends the callback's outcome to one provider; subclasses fix ``provider_type``."""

    template_fields = ("message", "channel", "summary", "event_metadata")
    provider_type: ClassVar[str] = ""

    def __init__(
        self,
        *,
        conn_id: str,
        provider_type: str | None = None,
        channel: str | None = None,
        username: str | None = None,
        address: str | None = None,
        timeout: float = 15.0,
        proxy: str | None = None,
        message: str | None = None,
        summary: str | None = None,
        event_metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.type = provider_type or self.provider_type
        self.channel = channel
        self.username = username
        self.address = address
        self.timeout = timeout
        self.proxy = proxy
        self.message = message
        self.summary = summary
        self.event_metadata = event_metadata or {}

    def notify(self, context: Context) -> None:
        from airflow_flux_provider.notifications.metadata import compose_metadata

        event = event_from_context(context, self.message)
        metadata = compose_metadata(
            event, self.event_metadata, self.summary, alert=f"notifier {self.conn_id}"
        )
        event = dataclasses.replace(event, metadata=metadata)
        provider = notification_provider(
            self.type,
            self.conn_id,
            channel=self.channel,
            username=self.username,
            address=self.address,
            timeout=self.timeout,
            proxy=self.proxy,
        )
        if provider.wants(event):
            provider.send(event)


class SlackNotifier(FluxNotifier):
    provider_type = "slack"


class MSTeamsNotifier(FluxNotifier):
    provider_type = "msteams"


class GenericWebhookNotifier(FluxNotifier):
    provider_type = "generic"


class GenericHmacNotifier(FluxNotifier):
    provider_type = "generic-hmac"


class PagerDutyNotifier(FluxNotifier):
    provider_type = "pagerduty"


class DiscordNotifier(FluxNotifier):
    provider_type = "discord"
