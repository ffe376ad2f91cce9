"""``generic`` and ``generic-hmac``: the Event JSON itself, optionally signed as Flux signs it."""

from __future__ import annotations

import hashlib
import hmac

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.http import encode, post_json
from airflow_flux_provider.notifications.provider import NotificationProvider, ProviderSettings

SIGNATURE_HEADER = "X-Signature"


def sign(body: bytes, key: str) -> str:
    """``sha256=<hex HMAC-SHA256(key, body)>``, the value of Flux's ``X-Signature`` header."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


class GenericProvider(NotificationProvider):
    type = "generic"
    accepts_commit_status = True

    def headers(self, event: Event, body: bytes) -> dict[str, str]:
        return {"gotk-component": event.reporting_controller, **self.settings.headers}

    def send(self, event: Event) -> None:
        body = encode(event.to_flux())
        post_json(
            self.settings.address,
            body,
            self.settings.transport,
            obj=self.settings.ref,
            headers=self.headers(event, body),
        )


class GenericHmacProvider(GenericProvider):
    type = "generic-hmac"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        if not settings.token:
            raise NotificationError(
                "HMAC key is empty: put the key in the connection's password (Flux: the Secret's token)",
                obj=settings.ref,
                field="spec.secretRef",
            )

    def headers(self, event: Event, body: bytes) -> dict[str, str]:
        return {**super().headers(event, body), SIGNATURE_HEADER: sign(body, self.settings.token)}
