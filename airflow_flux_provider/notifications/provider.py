"""The base of every notification provider and the settings a Provider object resolves to.

A provider turns one (alert-composed) :class:`~airflow_flux_provider.events.Event` into
the request its service expects. Settings carry what Flux reads from the Provider spec
and its Secret: address, channel, username, token, extra headers and the transport.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.http import Transport

#: Metadata value Flux sets on "reconciliation finished" events meant for commit statuses.
COMMIT_STATUS_UPDATE = "update"


@dataclass(frozen=True)
class ProviderSettings:
    """Everything one provider needs; ``ref`` is ``Provider/namespace/name`` for messages."""

    ref: str
    address: str = ""
    channel: str = ""
    username: str = ""
    token: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    transport: Transport = field(default_factory=Transport)


class NotificationProvider(ABC):
    """Sends events to one service; subclasses declare ``type`` as the Provider spec spells it."""

    type: ClassVar[str]
    #: Flux delivers commit-status updates only to generic webhooks, never to chat.
    accepts_commit_status: ClassVar[bool] = False
    needs_address: ClassVar[bool] = True

    def __init__(self, settings: ProviderSettings) -> None:
        if self.needs_address and not settings.address:
            raise NotificationError(
                f"type {self.type} needs an address: set spec.address or the connection's host",
                obj=settings.ref,
                field="spec.address",
            )
        self.settings = settings

    def wants(self, event: Event) -> bool:
        """Whether this provider forwards ``event`` at all (Flux's per-type dispatch rules)."""
        return self.accepts_commit_status or event.metadata.get("commit_status") != COMMIT_STATUS_UPDATE

    @abstractmethod
    def send(self, event: Event) -> None:
        """Deliver ``event``; raise :class:`NotificationError` if the service refused it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings.ref})"
