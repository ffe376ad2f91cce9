"""Duplicate-event rate limiting as Flux's event server does it.

Two events are duplicates when they name the same object, carry the same message and
the same revision / origin revision / token. The first one passes; its duplicates are
dropped until ``interval`` (Flux's ``--rate-limit-interval``, 5 minutes) has passed, so
an unchanged failure re-alerts at most once per interval.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.metadata import controller_value

DEFAULT_INTERVAL = 300.0


def duplicate_key(event: Event) -> str:
    """sha256 of ``event/name=…/namespace=…/kind=…/message=…[/originRevision=…][/revision=…][/token=…]``."""
    obj = event.involved_object
    key = f"event/name={obj.name}/namespace={obj.namespace}/kind={obj.kind}/message={event.message}"
    for name in ("originRevision", "revision", "token"):
        value = controller_value(event, name)
        if value:
            key += f"/{name}={value}"
    return hashlib.sha256(key.encode()).hexdigest()


class DuplicateLimiter:
    """Lets one event per duplicate key through per ``interval`` seconds (thread-safe)."""

    def __init__(
        self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._passed: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, event: Event) -> bool:
        """True for the first event of its kind in the window; False for a duplicate."""
        if self.interval <= 0:
            return True
        key, now = duplicate_key(event), self._clock()
        with self._lock:
            last = self._passed.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._passed[key] = now
            if len(self._passed) > 10_000:
                self._passed = {k: t for k, t in self._passed.items() if now - t < self.interval}
            return True
