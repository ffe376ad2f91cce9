"""``msteams``: an Adaptive Card for Teams workflow webhooks, a MessageCard for legacy connectors.

Flux picks the legacy MessageCard only for ``*.webhook.office.com`` hosts (the retired
Office 365 connectors); every other address (Power Automate / Workflows) gets the
Adaptive Card v1.4 message: title, message (red for errors) and a fact set with
``summary`` first and the other metadata sorted by key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.http import encode, post_json
from airflow_flux_provider.notifications.message import object_name
from airflow_flux_provider.notifications.provider import NotificationProvider

ADAPTIVE_CARD_VERSION = "1.4"
_LEGACY_HOST_SUFFIX = ".webhook.office.com"


def is_legacy_connector(address: str) -> bool:
    return (urlsplit(address).hostname or "").endswith(_LEGACY_HOST_SUFFIX)


def adaptive_card(event: Event) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "TextBlock", "text": event.message, "wrap": True}
    if event.severity == "error":
        message["color"] = "attention"
    metadata = dict(event.metadata)
    facts = [{"title": "summary", "value": metadata.pop("summary")}] if "summary" in metadata else []
    facts += [{"title": key, "value": value} for key, value in sorted(metadata.items())]
    title = {
        "type": "TextBlock",
        "text": object_name(event),
        "size": "large",
        "weight": "bolder",
        "wrap": True,
    }
    fact_set: dict[str, Any] = {"type": "FactSet"}
    if facts:
        fact_set["facts"] = facts
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": ADAPTIVE_CARD_VERSION,
                    "body": [{"type": "Container", "items": [title, message, fact_set]}],
                    "msteams": {"width": "Full"},
                },
            }
        ],
    }


def message_card(event: Event) -> dict[str, Any]:
    name = object_name(event)
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000" if event.severity == "error" else "0076D7",
        "summary": name,
        "sections": [
            {
                "activityTitle": event.message,
                "activitySubtitle": name,
                "facts": [{"name": key, "value": value} for key, value in sorted(event.metadata.items())],
            }
        ],
    }


class MSTeamsProvider(NotificationProvider):
    type = "msteams"

    def send(self, event: Event) -> None:
        address = self.settings.address
        payload = message_card(event) if is_legacy_connector(address) else adaptive_card(event)
        post_json(
            address,
            encode(payload),
            self.settings.transport,
            obj=self.settings.ref,
            headers=self.settings.headers,
        )
