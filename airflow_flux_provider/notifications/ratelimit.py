"""Duplicate-event rate limiting as Flux's event server does it.

Two events are duplicates when they name the same object, carry the same message and
the same revision / origin revision / token. The first one passes; its duplicates are
dropped until ``interval`` (Flux's ``--rate-limit-interval``, 5 minutes) has passed, so
an unchanged failure re-alerts at most once per interval.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from airflow_flux_provider.events import Event
from airflow_flux_provider.notifications.metadata import controller_value

DEFAULT_INTERVAL = 300.0

log = logging.getLogger(__name__)


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

    In memory by default. With ``state_url`` (a folder or an fsspec URL such as ``s3://…``)
    the window is shared by every process that reaches it: each Airflow task runs in its own
    process, possibly on another worker, and a retried task that fails the same way must
    not re-alert. Each key is one small file holding the time it last passed. A store that
    cannot be read or written lets the event through (an alert twice beats an alert lost).
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
        state_url: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.interval = interval
        self.state_url = state_url
        self._storage_options = dict(storage_options or {})
        self._clock = clock
        self._passed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._fs: Any = None

    def allow(self, event: Event) -> bool:
        """True for the first event of its kind in the window; False for a duplicate."""
        if self.interval <= 0:
            return True
        key, now = duplicate_key(event), self._clock()
        with self._lock:
            try:
                last = self._last_passed(key)
                if last is not None and now - last < self.interval:
                    return False
                self._record(key, now)
            except (OSError, ImportError, ValueError) as err:  # backend failures; an unknown scheme
                log.warning(
                    "duplicate-alert window at %s unusable (%s); the event passes", self.state_url, err
                )
            return True

    def _state(self) -> tuple[Any, str]:
        if self._fs is None:
            import fsspec

            self._fs, root = fsspec.core.url_to_fs(str(self.state_url), **self._storage_options)
            self._root = root.rstrip("/")
            self._fs.makedirs(self._root, exist_ok=True)
        return self._fs, self._root

    def _last_passed(self, key: str) -> float | None:
        if self.state_url is None:
            return self._passed.get(key)
        fs, root = self._state()
        try:
            return float(fs.cat_file(f"{root}/{key}"))
        except FileNotFoundError:
            return None
        except ValueError:  # not written by us: as if never passed
            return None

    def _record(self, key: str, now: float) -> None:
        if self.state_url is None:
            self._passed[key] = now
            if len(self._passed) > 10_000:
                self._passed = {k: t for k, t in self._passed.items() if now - t < self.interval}
            return
        fs, root = self._state()
        fs.pipe_file(f"{root}/{key}", repr(now).encode())
