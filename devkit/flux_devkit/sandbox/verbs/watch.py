"""WATCH: initial events, changes after a resourceVersion, bookmarks, selector transitions."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from flux_devkit.sandbox.resources import ResourceType
from flux_devkit.sandbox.status import ApiError, bad_request
from flux_devkit.sandbox.store import Event
from flux_devkit.sandbox.verbs.call import Call
from flux_devkit.sandbox.verbs.core import Verbs


class WatchVerb(Verbs):
    def watch(self, call: Call) -> Generator[dict[str, Any], None, None]:
        """Watch events as dicts; ends after timeoutSeconds (default 30 min) or when the server stops."""
        rt = call.rt
        filters = self._filters(call.query)
        namespace = call.namespace if rt.namespaced else ""
        timeout = float(call.query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        bookmarks = call.flag("allowWatchBookmarks")
        rv_text = call.query.get("resourceVersion", "")
        initial = call.flag("sendInitialEvents") or rv_text in ("", "0")

        def wanted(group: str, plural: str, obj: dict[str, Any]) -> bool:
            if group != rt.group or plural != rt.plural:
                return False
            if namespace and obj["metadata"].get("namespace") != namespace:
                return False
            return all(f(obj) for f in filters)

        if initial:
            with self.store.lock:
                rv = self.store.resource_version
                existing = self.store.list(rt.group, rt.plural, namespace or None)
            for obj in existing:
                if all(f(obj) for f in filters):
                    yield {"type": "ADDED", "object": self._out(rt, obj)}
            if call.flag("sendInitialEvents") and bookmarks:
                yield self._bookmark(rt, rv, initial_end=True)
        else:
            try:
                rv = int(rv_text)
            except ValueError:
                raise bad_request(f'invalid resource version "{rv_text}"') from None
        last_bookmark = time.monotonic()
        while not self.stopping.is_set():
            try:
                events: list[Event] = self.store.events_after(rv)
            except ApiError as err:
                yield {"type": "ERROR", "object": err.status()}
                return
            for event in events:
                rv = event.rv
                kind = _transition(
                    event,
                    wanted(event.group, event.plural, event.obj),
                    event.old is not None and wanted(event.group, event.plural, event.old),
                )
                if kind:
                    yield {"type": kind, "object": self._out(rt, event.obj)}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if bookmarks and time.monotonic() - last_bookmark > 5:
                last_bookmark = time.monotonic()
                yield self._bookmark(rt, self.store.resource_version)
            if not events:
                self.store.wait(rv, min(remaining, 1.0))

    def _bookmark(self, rt: ResourceType, rv: int, *, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
        }


def _transition(event: Event, matches_now: bool, matched_before: bool) -> str | None:
    """The event a selector-filtered watcher sees: objects entering or leaving the selection
    arrive as ADDED or DELETED, as from the API server's watch cache."""
    if event.type != "MODIFIED":
        return event.type if matches_now else None
    if matches_now:
        return "MODIFIED" if matched_before else "ADDED"
    return "DELETED" if matched_before else None
