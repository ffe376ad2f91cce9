"""Event metadata as Flux cleans and composes it before a provider sees it.

Controllers prefix their keys with their API group (``kustomize.toolkit.fluxcd.io/revision``);
users add ``event.toolkit.fluxcd.io/<key>`` annotations. Our own emitters write plain keys
(``revision``), which are kept as controller metadata. ``checksum``, ``digest`` and ``token``
never reach a provider.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from airflow_flux_provider.events import Event

log = logging.getLogger(__name__)

USER_PREFIX = "event.toolkit.fluxcd.io/"
_DROPPED = frozenset({"checksum", "digest", "token"})


def api_group(event: Event) -> str:
    """The involved object's API group (``''`` for core kinds and for our own Airflow objects)."""
    api_version = event.involved_object.api_version
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def controller_value(event: Event, key: str) -> str:
    """A controller metadata value, prefixed with the object's group or plain."""
    group = api_group(event)
    prefixed = event.metadata.get(f"{group}/{key}", "") if group else ""
    return prefixed or event.metadata.get(key, "")


def split_metadata(event: Event) -> tuple[dict[str, str], dict[str, str]]:
    """``(user, controller)`` metadata with prefixes removed; foreign-group keys are dropped."""
    group = api_group(event)
    user: dict[str, str] = {}
    controller: dict[str, str] = {}
    for key, value in event.metadata.items():
        if key.startswith(USER_PREFIX):
            user[key.removeprefix(USER_PREFIX)] = value
        elif group and key.startswith(f"{group}/"):
            controller[key.removeprefix(f"{group}/")] = value
        elif "/" not in key:
            controller[key] = value
    return user, {k: v for k, v in controller.items() if k not in _DROPPED}


def compose_metadata(
    event: Event, event_metadata: Mapping[str, str], summary: str | None, *, alert: str
) -> dict[str, str]:
    """User annotations, then the Alert's ``eventMetadata``, ``summary``, controller keys (later wins)."""
    user, controller = split_metadata(event)
    layers: list[tuple[str, Mapping[str, str]]] = [
        ("event annotations", user),
        ("spec.eventMetadata", event_metadata),
        ("spec.summary", {"summary": summary} if summary else {}),
        ("controller metadata", controller),
    ]
    result: dict[str, str] = {}
    for source, layer in layers:
        for key, value in layer.items():
            if key in result and result[key] != value:
                log.warning("%s: metadata key %r from %s overrides an earlier value", alert, key, source)
            result[key] = value
    return result
