"""The dispatcher: Flux's event server for one process.

It takes every event from the bus (:func:`airflow_flux_provider.events.subscribe`),
drops duplicates (:class:`DuplicateLimiter`), and hands each matching alert's composed
event to that alert's provider. A failed delivery is logged as Flux records
``NotificationDispatchFailed`` and never breaks the task that emitted the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from airflow_flux_provider.credentials import SecretLookup
from airflow_flux_provider.events import Event, ObjectReference, subscribe
from airflow_flux_provider.notifications.alert import Alert, LabelLookup
from airflow_flux_provider.notifications.catalog import provider_from_spec
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.provider import NotificationProvider
from airflow_flux_provider.notifications.ratelimit import DuplicateLimiter
from airflow_flux_provider.specs import Alert as AlertManifest
from airflow_flux_provider.specs import FluxObject, Provider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    alert: Alert
    provider: NotificationProvider


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver an event: ``error`` is ``None`` when the provider accepted it."""

    alert: str
    provider: str
    error: str | None = None


class Dispatcher:
    """Routes events to providers through alerts; one per process, subscribed to the event bus."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        limiter: DuplicateLimiter | None = None,
        labels: LabelLookup | None = None,
    ) -> None:
        self.routes = list(routes)
        self.limiter = limiter if limiter is not None else DuplicateLimiter()
        self.labels = labels

    def handle(self, event: Event) -> list[Delivery]:
        """Deliver ``event`` to every matching alert's provider; return what happened."""
        if not self.limiter.allow(event):
            log.debug("dropped duplicate event for %s: %s", event.involved_object, event.message)
            return []
        deliveries = []
        for route in self.routes:
            if not route.alert.matches(event, self.labels):
                continue
            composed = route.alert.compose(event)
            if not route.provider.wants(composed):
                continue
            provider_ref = route.provider.settings.ref
            try:
                route.provider.send(composed)
            except NotificationError as err:
                log.warning(
                    "%s: failed to send notification for %s: %s", route.alert.ref, event.involved_object, err
                )
                deliveries.append(Delivery(route.alert.ref, provider_ref, str(err)))
            else:
                deliveries.append(Delivery(route.alert.ref, provider_ref))
        return deliveries

    def subscribe(self) -> Callable[[], None]:
        """Receive every emitted event from now on; returns the function that stops it."""

        def consume(event: Event) -> None:
            self.handle(event)

        return subscribe(consume)

    @classmethod
    def from_manifests(
        cls,
        objects: Iterable[FluxObject],
        credentials: SecretLookup,
        *,
        limiter: DuplicateLimiter | None = None,
        retries: int | None = None,
    ) -> Dispatcher:
        """Routes for every Alert among ``objects`` to the Provider it references (same namespace).

        Labels for ``matchLabels`` come from the other objects in ``objects``.
        """
        objects = list(objects)
        providers: dict[tuple[str, str], NotificationProvider | None] = {}
        for obj in objects:
            if isinstance(obj, Provider):
                key = (obj.metadata.namespace, obj.metadata.name)
                providers[key] = None if obj.spec.suspend else _build(obj, credentials, retries)
        routes = []
        for obj in objects:
            if not isinstance(obj, AlertManifest):
                continue
            alert = Alert.from_manifest(obj)
            key = (alert.namespace, alert.provider)
            if key not in providers:
                raise NotificationError(
                    f"no Provider {alert.provider!r} in namespace {alert.namespace!r}; "
                    "add it or fix the reference",
                    obj=alert.ref,
                    field="spec.providerRef.name",
                )
            provider = providers[key]
            if provider is not None:
                routes.append(Route(alert, provider))
        return cls(routes, limiter=limiter, labels=labels_from(objects))


def _build(provider: Provider, credentials: SecretLookup, retries: int | None) -> NotificationProvider:
    spec = provider.spec
    secret = proxy = None
    if spec.secret_ref is not None:
        secret = credentials(spec.secret_ref.name, obj=provider.ref, field="spec.secretRef.name")
    if spec.proxy_secret_ref is not None:
        proxy = credentials(spec.proxy_secret_ref.name, obj=provider.ref, field="spec.proxySecretRef.name")
    return provider_from_spec(provider, secret, proxy=proxy, retries=retries)


def labels_from(objects: Iterable[FluxObject]) -> LabelLookup:
    """A label lookup over known manifests, keyed by kind, namespace and name."""
    index = {(o.kind, o.metadata.namespace, o.metadata.name): dict(o.metadata.labels) for o in objects}

    def lookup(obj: ObjectReference) -> dict[str, str] | None:
        return index.get((obj.kind, obj.namespace, obj.name))

    return lookup
