"""``pagerduty``: Events API v2 as Flux maps events onto incidents.

An error event triggers an incident, an info event resolves it (same ``dedup_key``:
the object's uid, or its ``Kind/namespace/name`` when it has none) and is also recorded
as a change event. ``Progressing`` events are skipped. The routing key is ``spec.channel``
and only the scheme and host of the address are used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.http import encode, post_json
from airflow_flux_provider.notifications.message import name_and_description
from airflow_flux_provider.notifications.provider import NotificationProvider, ProviderSettings

DEFAULT_ADDRESS = "https://events.pagerduty.com"
PROGRESSING = "Progressing"


def _details(event: Event) -> dict[str, Any]:
    return {"message": event.message, "metadata": dict(event.metadata)}


def _summary(event: Event) -> str:
    name, description = name_and_description(event)
    return f"{description}: {name}"


def _timestamp(event: Event) -> str:
    return event.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def incident_event(event: Event, routing_key: str) -> dict[str, Any]:
    """The V2 event: ``trigger`` with a payload for errors, ``resolve`` otherwise."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if event.severity == "error" else "resolve",
        "dedup_key": event.involved_object.uid or str(event.involved_object),
    }
    if event.severity == "error":
        body["payload"] = {
            "summary": _summary(event),
            "source": f"Flux {event.reporting_controller}",
            "severity": "error",
            "timestamp": _timestamp(event),
            "component": event.involved_object.name,
            "group": event.involved_object.kind,
            "custom_details": _details(event),
        }
    return body


def change_event(event: Event, routing_key: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "payload": {
            "summary": _summary(event),
            "source": f"Flux {event.reporting_controller}",
            "timestamp": _timestamp(event),
            "custom_details": _details(event),
        },
    }


class PagerDutyProvider(NotificationProvider):
    type = "pagerduty"
    needs_address = False

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        if not settings.channel:
            raise NotificationError(
                "pagerduty needs the integration's routing key in spec.channel",
                obj=settings.ref,
                field="spec.channel",
            )
        parts = urlsplit(settings.address or DEFAULT_ADDRESS)
        if not parts.scheme or not parts.netloc:
            raise NotificationError(
                "the address must be an absolute URL such as https://events.pagerduty.com",
                obj=settings.ref,
                field="spec.address",
            )
        self.base = f"{parts.scheme}://{parts.netloc}"

    def wants(self, event: Event) -> bool:
        return super().wants(event) and event.reason != PROGRESSING

    def send(self, event: Event) -> None:
        key, transport, ref = self.settings.channel, self.settings.transport, self.settings.ref
        headers = self.settings.headers
        post_json(
            f"{self.base}/v2/enqueue", encode(incident_event(event, key)), transport, obj=ref, headers=headers
        )
        if event.severity == "info":
            post_json(
                f"{self.base}/v2/change/enqueue",
                encode(change_event(event, key)),
                transport,
                obj=ref,
                headers=headers,
            )
