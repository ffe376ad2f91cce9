"""``discord``: the Slack-compatible body posted to a Discord webhook's ``/slack`` endpoint."""

from __future__ import annotations

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.http import encode, post_json
from airflow_flux_provider.notifications.provider import NotificationProvider
from airflow_flux_provider.notifications.slack import slack_payload


def slack_endpoint(address: str) -> str:
    """Discord accepts Slack payloads under ``<webhook>/slack``; Flux appends it when missing."""
    address = address.rstrip("/")
    return address if address.endswith("/slack") else address + "/slack"


class DiscordProvider(NotificationProvider):
    type = "discord"

    def send(self, event: Event) -> None:
        body = encode(slack_payload(event, self.settings, discord=True))
        post_json(
            slack_endpoint(self.settings.address),
            body,
            self.settings.transport,
            obj=self.settings.ref,
            headers=self.settings.headers,
        )
