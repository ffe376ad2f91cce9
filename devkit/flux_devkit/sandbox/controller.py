"""The shape every in-sandbox controller shares: follow the store's event log, reconcile keys when due.

A controller says which objects an event concerns (:meth:`StoreController.keys_for`) and how
to bring one object to its wanted state (:meth:`StoreController.reconcile`). The loop
follows the event log like any watcher, so controllers see what clients see; a key can
also be scheduled for later (a ready delay, a probe period, a restart back-off), and other
threads (a process that exited, a finished image pull) wake the loop through
:meth:`StoreController.schedule`. A controller that falls behind the log resyncs every key.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Iterable

from flux_devkit.sandbox.status import ApiError
from flux_devkit.sandbox.store import Event, Store

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # (group, plural, namespace, name)
IDLE_WAIT = 0.5  # seconds between looks at the log when nothing is due


class StoreController:
    """Base class: subclasses implement :meth:`keys_for`, :meth:`all_keys` and :meth:`reconcile`."""

    name = "controller"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._stop = threading.Event()
        self._due: list[tuple[float, Key]] = []
        self._due_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"sandbox-{self.name}", daemon=True)

    # -- what subclasses say --------------------------------------------------------------------
    def keys_for(self, event: Event) -> Iterable[tuple[Key, float]]:
        """The keys an event makes due, each with its delay in seconds."""
        raise NotImplementedError

    def all_keys(self) -> Iterable[Key]:
        """Every key this controller looks after (at start and after falling behind the log)."""
        raise NotImplementedError

    def reconcile(self, key: Key) -> None:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.store.wake_all()
        self._thread.join(timeout=10)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def schedule(self, key: Key, delay: float = 0.0) -> None:
        """Reconcile ``key`` after ``delay`` seconds; safe from any thread."""
        with self._due_lock:
            heapq.heappush(self._due, (time.monotonic() + delay, key))
        if delay <= 0:
            self.store.wake_all()

    # -- loop -----------------------------------------------------------------------------------
    def _run(self) -> None:
        with self.store.lock:
            cursor = self.store.resource_version
            keys = list(self.all_keys())
        for key in keys:
            self.schedule(key)
        while not self._stop.is_set():
            try:
                events = self.store.events_after(cursor)
            except ApiError:  # fell behind the event log: look at everything again
                events = []
                with self.store.lock:
                    cursor = self.store.resource_version
                    keys = list(self.all_keys())
                for key in keys:
                    self.schedule(key)
            for event in events:
                cursor = event.rv
                for key, delay in self.keys_for(event):
                    self.schedule(key, delay)
            self._run_due()
            with self._due_lock:
                wait = (self._due[0][0] - time.monotonic()) if self._due else IDLE_WAIT
            if wait > 0:
                self.store.wait(cursor, min(wait, IDLE_WAIT))

    def _run_due(self) -> None:
        due: dict[Key, None] = {}  # one pass reconciles a key once, however often it was scheduled
        with self._due_lock:
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                due[heapq.heappop(self._due)[1]] = None
        for key in due:
            if self._stop.is_set():
                return
            try:
                self.reconcile(key)
            except ApiError as err:  # e.g. the object was deleted meanwhile
                log.debug("%s skipped %s: %s", self.name, key, err.message)
            except Exception:
                log.exception("%s failed on %s", self.name, key)
