"""``slack`` through slack-sdk: an incoming webhook, or ``chat.postMessage`` with a bot token.

The message is the attachment Flux sends: author ``kind/name.namespace``, the event
message, green or red, one field per metadata entry. With a token the address (default
``https://slack.com/api/chat.postMessage``) becomes the WebClient's ``base_url``.
"""

from __future__ import annotations

import math
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.message import object_name
from airflow_flux_provider.notifications.provider import NotificationProvider, ProviderSettings

API_URL = "https://slack.com/api/"
_POST_MESSAGE = "chat.postMessage"


def slack_attachment(event: Event, *, fallback: bool = True) -> dict[str, Any]:
    """The one attachment Flux builds for an event (``fallback`` is left out for Discord)."""
    name = object_name(event)
    attachment: dict[str, Any] = {}
    if fallback:
        attachment["fallback"] = f"{name}: {event.message.splitlines()[0] if event.message else ''}"
    attachment.update(
        color="danger" if event.severity == "error" else "good",
        author_name=name,
        text=event.message,
        mrkdwn_in=["text"],
    )
    if event.metadata:
        attachment["fields"] = [
            {"title": key, "value": value, "short": False} for key, value in sorted(event.metadata.items())
        ]
    return attachment


def slack_payload(event: Event, settings: ProviderSettings, *, discord: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if settings.channel and not discord:
        payload["channel"] = settings.channel
    payload.update(
        username=settings.username or event.reporting_controller,
        icon_url="",
        icon_emoji="",
        attachments=[slack_attachment(event, fallback=not discord)],
    )
    return payload


class SlackProvider(NotificationProvider):
    type = "slack"
    needs_address = False

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        if not settings.token and not settings.address:
            raise NotificationError(
                "slack needs an incoming-webhook address or a bot token with spec.channel",
                obj=settings.ref,
                field="spec.address",
            )
        if settings.token and not settings.channel:
            raise NotificationError(
                "a bot token posts with chat.postMessage, which needs a channel: set spec.channel",
                obj=settings.ref,
                field="spec.channel",
            )
        timeout = max(1, math.ceil(settings.transport.timeout))
        proxy, context = settings.transport.proxy, settings.transport.ssl_context()
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        if settings.token:
            base_url = settings.address or API_URL
            base_url = base_url.removesuffix(_POST_MESSAGE)
            base_url = base_url if base_url.endswith("/") else base_url + "/"
            self._web = WebClient(
                token=settings.token,
                base_url=base_url,
                timeout=timeout,
                proxy=proxy,
                headers=settings.headers,
                ssl=context,
            )
        else:
            self._hook = WebhookClient(
                settings.address, timeout=timeout, proxy=proxy, default_headers=settings.headers, ssl=context
            )

    def send(self, event: Event) -> None:
        payload = slack_payload(event, self.settings)
        scrub = self.settings.transport.scrub
        try:
            if self._web is not None:
                self._web.chat_postMessage(**payload)
                return
            assert self._hook is not None
            response = self._hook.send_dict(payload)
        except SlackApiError as err:
            raise NotificationError(
                scrub(f"Slack refused the message: {err.response.get('error', err.response.status_code)}")
                + "; check the bot token, its chat:write scope and the channel",
                obj=self.settings.ref,
            ) from None
        except (SlackClientError, OSError) as err:
            raise NotificationError(
                scrub(f"could not reach Slack: {type(err).__name__}: {err}")
                + "; check the address and proxy",
                obj=self.settings.ref,
            ) from None
        if response.status_code != 200:
            raise NotificationError(
                scrub(f"request failed with status code {response.status_code}: {response.body[:300]}")
                + "; check the webhook address",
                obj=self.settings.ref,
            )
