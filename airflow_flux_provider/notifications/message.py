"""How Flux names an object and describes a reason in chat messages.

``kustomization/webapp.apps`` and ``reconciliation succeeded`` appear in every chat
payload, so the helpers live in one place and every provider formats them the same way.
"""

from __future__ import annotations

import re

from airflow_flux_provider.events import Event

_CAMEL_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^A-Za-z\d]+")


def object_name(event: Event) -> str:
    """``<kind lower>/<name>.<namespace>``, the title Flux gives a message."""
    obj = event.involved_object
    return f"{obj.kind.lower()}/{obj.name}.{obj.namespace}"


def name_and_description(event: Event) -> tuple[str, str]:
    """``('kustomization/webapp', 'reconciliation succeeded')`` for PagerDuty-style summaries."""
    obj = event.involved_object
    words = [w for w in _CAMEL_WORD.findall(event.reason) if w.strip()]
    return f"{obj.kind}/{obj.name}".lower(), " ".join(words).lower()
