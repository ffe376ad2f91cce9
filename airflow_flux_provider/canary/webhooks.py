"""Flagger webhooks: payload, delivery with timeout/retries, and the pass rule (HTTP <= 202).

Hooks of one type run in list order and the first failure stops the rest. What a
failure means (a closed gate, a failed check, "do not roll back") is decided by the tick.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from airflow_flux_provider.canary.status import fnv32a
from airflow_flux_provider.credentials import redact_url
from airflow_flux_provider.specs.flagger import Canary, CanaryWebhook

_BACKOFF_CAP = 30.0


def endpoint(url: str) -> str:
    """``scheme://host:port`` only: webhook paths (Slack, Teams) and userinfo are secrets."""
    return redact_url(url, keep_path=False)


@dataclass(frozen=True)
class HookOutcome:
    """``failed`` is the first hook that did not pass (None when all passed); ``message`` says why."""

    failed: CanaryWebhook | None
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.failed is None


def checksum(last_applied_spec: str) -> str:
    """Identifies "this revision plus its config", as Flagger's payload checksum does.

    Config tracking (ConfigMaps/Secrets) is not implemented, so the tracked part is empty.
    """
    return fnv32a(json.dumps([{}, last_applied_spec], sort_keys=True))


def payload(
    canary: Canary, hook: CanaryWebhook, phase: str, spec: str, event: dict[str, str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": canary.metadata.name,
        "namespace": canary.metadata.namespace or "default",
        "phase": phase,
        "checksum": checksum(spec),
    }
    metadata = dict(hook.metadata)
    if event is not None:
        metadata.update(event)  # the event keys win over user metadata
    if metadata:
        body["metadata"] = metadata
    return body


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status != 501) or status == 0


def call(hook: CanaryWebhook, body: dict[str, Any]) -> str | None:
    """POST ``body``; None when the hook passed, else the reason (response text or transport error)."""
    attempt = 0
    while True:
        try:
            response = requests.post(
                hook.url, json=body, timeout=hook.timeout.total_seconds(), verify=not hook.disable_tls
            )
        except requests.Timeout:
            reason, retry = f"no answer within {hook.timeout.total_seconds():g}s (timeout)", True
        except requests.exceptions.SSLError as err:
            reason, retry = f"TLS error: {type(err).__name__}", False
        except requests.RequestException as err:
            reason, retry = f"cannot reach {endpoint(hook.url)}: {type(err).__name__}", True
        else:
            if response.status_code <= 202:
                return None
            reason = f"HTTP {response.status_code}: {response.text[:300].strip()}"
            retry = _retryable(response.status_code)
        if not retry or attempt >= hook.retries:
            return f"webhook {hook.name} ({hook.type}) failed: {reason}"
        time.sleep(min(2.0**attempt, _BACKOFF_CAP))
        attempt += 1


def run_hooks(canary: Canary, kind: str, phase: str, spec: str) -> HookOutcome:
    """Every hook of ``kind`` in list order; stops at the first failure."""
    analysis = canary.spec.analysis
    for hook in analysis.webhooks if analysis else ():
        if hook.type != kind:
            continue
        reason = call(hook, payload(canary, hook, phase, spec))
        if reason is not None:
            return HookOutcome(hook, reason)
    return HookOutcome(None)


def first_passing(canary: Canary, kind: str, phase: str, spec: str) -> CanaryWebhook | None:
    """The first hook of ``kind`` that passes (rollback hooks: a pass means "roll back now")."""
    analysis = canary.spec.analysis
    for hook in analysis.webhooks if analysis else ():
        if hook.type == kind and call(hook, payload(canary, hook, phase, spec)) is None:
            return hook
    return None


def send_event(canary: Canary, phase: str, spec: str, message: str, warning: bool) -> None:
    """Forward one canary event to every ``event`` hook (failures are only logged by the caller)."""
    analysis = canary.spec.analysis
    event = {
        "eventMessage": message,
        "eventType": "Warning" if warning else "Normal",
        "timestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
    }
    for hook in analysis.webhooks if analysis else ():
        if hook.type == "event":
            call(hook, payload(canary, hook, phase, spec, event))
