from __future__ import annotations

from datetime import UTC, datetime

from airflow_flux_provider.events import Event, ObjectReference, Severity
from airflow_flux_provider.notifications import ProviderSettings, Transport

TOKEN = "xoxb-secret-token-123"


def event(
    severity: Severity = "info",
    *,
    kind: str = "Kustomization",
    name: str = "ml-serving",
    namespace: str = "flux-system",
    reason: str = "ReconciliationSucceeded",
    message: str = "Applied revision: main@sha1:abc",
    metadata: dict[str, str] | None = None,
) -> Event:
    return Event(
        involved_object=ObjectReference(
            kind=kind,
            name=name,
            namespace=namespace,
            api_version="kustomize.toolkit.fluxcd.io/v1",
            uid="uid-1",
        ),
        severity=severity,
        reason=reason,
        message=message,
        metadata=metadata if metadata is not None else {"revision": "main@sha1:abc"},
        reporting_controller="kustomize-controller",
        timestamp=datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC),
    )


def settings(address: str, **kwargs: object) -> ProviderSettings:
    transport = kwargs.pop("transport", None) or Transport(timeout=5, retries=0)
    return ProviderSettings(ref="Provider/flux-system/test", address=address, transport=transport, **kwargs)  # type: ignore[arg-type]
