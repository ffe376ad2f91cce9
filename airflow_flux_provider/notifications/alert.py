"""An Alert: which events go to a provider, and with what extra metadata.

Matching is Flux's: an event passes when the alert is not suspended, its severity
passes (``info`` lets everything through, ``error`` only errors), some event source
names its kind and namespace and its name (``*`` for all) and labels, the message matches
an inclusion regex (if any) and no exclusion regex. Regexes are searched, not anchored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from airflow_flux_provider.errors import object_ref
from airflow_flux_provider.events import Event, ObjectReference
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.metadata import compose_metadata
from airflow_flux_provider.patterns import regex
from airflow_flux_provider.specs import Alert as AlertManifest

log = logging.getLogger(__name__)

#: Labels of an involved object, for ``matchLabels`` (``None`` when it cannot be fetched).
LabelLookup = Callable[[ObjectReference], Mapping[str, str] | None]


@dataclass(frozen=True)
class EventSource:
    """Selects events of one kind in one namespace, by name (``*``) and labels.

    ``namespace: '*'`` (any namespace) is our extension for Airflow objects, whose namespace
    is the DAG id; Alert manifests always name one namespace, as Flux requires.
    """

    kind: str
    name: str
    namespace: str
    match_labels: Mapping[str, str] = field(default_factory=dict)

    def selects(self, obj: ObjectReference, labels: LabelLookup | None) -> bool:
        if obj.kind != self.kind or self.namespace not in ("*", obj.namespace):
            return False
        if self.name != "*" and obj.name != self.name:
            return False
        if not self.match_labels:
            return True
        found = labels(obj) if labels is not None else None
        if found is None:
            log.warning("cannot read the labels of %s for matchLabels; the event is not forwarded", obj)
            return False
        return all(found.get(k) == v for k, v in self.match_labels.items())


def compile_patterns(patterns: list[str], *, obj: str, field: str) -> tuple[Any, ...]:
    return tuple(
        regex(p, obj=obj, field=f"{field}[{i}]", error=NotificationError) for i, p in enumerate(patterns)
    )


@dataclass(frozen=True)
class Alert:
    """One Alert object, ready to match events (build it with :meth:`from_manifest` or directly)."""

    name: str
    namespace: str
    provider: str
    sources: tuple[EventSource, ...]
    severity: Literal["info", "error"] = "info"
    inclusion: tuple[re.Pattern[str], ...] = ()
    exclusion: tuple[re.Pattern[str], ...] = ()
    event_metadata: Mapping[str, str] = field(default_factory=dict)
    summary: str | None = None
    suspend: bool = False

    @property
    def ref(self) -> str:
        return object_ref("Alert", self.name, self.namespace)

    @classmethod
    def from_manifest(cls, manifest: AlertManifest) -> Alert:
        spec, meta = manifest.spec, manifest.metadata
        ref = manifest.ref
        sources = tuple(
            EventSource(s.kind, s.name, s.namespace or meta.namespace, dict(s.match_labels))
            for s in spec.event_sources
        )
        return cls(
            name=meta.name,
            namespace=meta.namespace,
            provider=spec.provider_ref.name,
            sources=sources,
            severity=spec.event_severity,
            inclusion=compile_patterns(spec.inclusion_list, obj=ref, field="spec.inclusionList"),
            exclusion=compile_patterns(spec.exclusion_list, obj=ref, field="spec.exclusionList"),
            event_metadata=dict(spec.event_metadata),
            summary=spec.summary,
            suspend=spec.suspend,
        )

    def matches(self, event: Event, labels: LabelLookup | None = None) -> bool:
        if self.suspend or event.severity == "trace":  # Flux never forwards trace events
            return False
        if self.severity == "error" and event.severity != "error":
            return False
        if not any(source.selects(event.involved_object, labels) for source in self.sources):
            return False
        if self.inclusion and not any(p.search(event.message) for p in self.inclusion):
            return False
        return not any(p.search(event.message) for p in self.exclusion)

    def compose(self, event: Event) -> Event:
        """The event as this alert's provider receives it (metadata cleaned and extended)."""
        metadata = compose_metadata(event, self.event_metadata, self.summary, alert=self.ref)
        return replace(event, metadata=metadata)
