"""Duplicate-event rate limiting as Flux's event server does it.

Two events are duplicates when they name the same object, carry the same message and
the same revision / origin revision / token. The first one passes; its duplicates are
dropped until ``interval`` (Flux's ``--rate-limit-interval``, 5 minutes) has passed, so
an unchanged failure re-alerts at most once per interval.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
    """Lets one event per duplicate key through per ``interval`` seconds (thread-safe).

    In memory by default. With ``folder`` the window is shared by every process on the
    machine (one empty file per key, its mtime the time it last passed): each Airflow task
    runs in its own process, and a retried task that fails the same way must not re-alert.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
        folder: Path | None = None,
    ) -> None:
        self.interval = interval
        self.folder = folder
        self._clock = clock
        self._passed: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, event: Event) -> bool:
        """True for the first event of its kind in the window; False for a duplicate."""
        if self.interval <= 0:
            return True
        key, now = duplicate_key(event), self._clock()
        with self._lock:
            last = self._last_passed(key)
            if last is not None and now - last < self.interval:
                return False
            self._record(key, now)
            return True

    def _last_passed(self, key: str) -> float | None:
        if self.folder is None:
            return self._passed.get(key)
        try:
            return (self.folder / key).stat().st_mtime
        except FileNotFoundError:
            return None

    def _record(self, key: str, now: float) -> None:
        if self.folder is None:
            self._passed[key] = now
            if len(self._passed) > 10_000:
                self._passed = {k: t for k, t in self._passed.items() if now - t < self.interval}
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / key
        marker.touch()
        os.utime(marker, (now, now))
