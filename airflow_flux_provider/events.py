"""Flux-style events: what a reconcile, release, image update or canary step reports.

The shape follows Flux's ``event.toolkit.fluxcd.io/v1`` Event so the notification
providers can forward it unchanged. Emitters call :func:`emit`; notifications and
tracking subscribe with :func:`subscribe`. Delivery is synchronous and a failing
subscriber never breaks the emitter (it is logged instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

log = logging.getLogger(__name__)

Severity = Literal["info", "error", "trace"]


@dataclass(frozen=True)
class ObjectReference:
    kind: str
    name: str
    namespace: str = ""
    api_version: str = ""
    uid: str = ""

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Event:
    involved_object: ObjectReference
    severity: Severity
    reason: str
    message: str
    metadata: dict[str, str] = field(default_factory=dict)
    reporting_controller: str = "airflow-flux-provider"
    reporting_instance: str = ""
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def revision(self) -> str:
        return self.metadata.get("revision", "")

    def to_flux(self) -> dict[str, Any]:
        """The JSON body Flux's notification-controller receives (camelCase keys)."""
        obj = asdict(self.involved_object)
        return {
            "involvedObject": {
                "kind": obj["kind"],
                "namespace": obj["namespace"],
                "name": obj["name"],
                "uid": obj["uid"],
                "apiVersion": obj["api_version"],
            },
            "severity": self.severity,
            "timestamp": self.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": self.message,
            "reason": self.reason,
            "metadata": dict(self.metadata),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
        }


Subscriber = Callable[[Event], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> Callable[[], None]:
    """Register a subscriber; returns a function that removes it again."""
    _subscribers.append(subscriber)
    return lambda: _subscribers.remove(subscriber)


def emit(event: Event) -> None:
    """Log the event and hand it to every subscriber."""
    level = logging.ERROR if event.severity == "error" else logging.INFO
    log.log(level, "%s %s: %s", event.involved_object, event.reason, event.message)
    for subscriber in list(_subscribers):
        try:
            subscriber(event)
        except Exception:
            log.exception("event subscriber %r failed for %s", subscriber, event.involved_object)
