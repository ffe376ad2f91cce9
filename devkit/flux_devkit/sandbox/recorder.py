"""Kubernetes Events from the sandbox's controllers, aggregated as the event recorder does.

A repeated event (same object, reason and message) bumps ``count`` and ``lastTimestamp``
of the one Event object instead of adding another, so ``kubectl describe`` reads
``Back-off restarting failed container (x5 over 2m)`` as it would on a cluster.
"""

from __future__ import annotations

import copy
import secrets
import threading
from typing import Any

from flux_devkit.sandbox.status import ApiError
from flux_devkit.sandbox.verbs import Call, ResourceApi, now

MAX_TRACKED = 10_000


class EventRecorder:
    def __init__(self, api: ResourceApi, component: str) -> None:
        self.api = api
        self.component = component
        self._names: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def record(
        self, obj: dict[str, Any], reason: str, message: str, *, warning: bool = False, field_path: str = ""
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        rt = self.api.table.lookup("", "v1", "events")
        assert rt is not None
        key = (meta["uid"], reason, message)
        stamp = now()
        with self._lock, self.api.store.lock:
            name = self._names.get(key)
            existing = self.api.store.get("", "events", namespace, name) if name else None
            try:
                if existing is not None:
                    bumped = copy.deepcopy(existing)
                    bumped["count"] = int(existing.get("count") or 1) + 1
                    bumped["lastTimestamp"] = stamp
                    self.api.update(Call(rt, namespace, name or "", "", {}, self.component), bumped)
                    return
                name = f"{meta['name']}.{secrets.token_hex(8)}"
                involved = {
                    "kind": obj.get("kind", ""),
                    "apiVersion": obj.get("apiVersion", ""),
                    "namespace": namespace,
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
                if field_path:
                    involved["fieldPath"] = field_path
                event = {
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": message,
                    "type": "Warning" if warning else "Normal",
                    "source": {"component": self.component, "host": "sandbox"},
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": 1,
                    "reportingComponent": self.component,
                    "reportingInstance": "sandbox",
                }
                self.api.create(Call(rt, namespace, "", "", {}, self.component), event)
                if len(self._names) > MAX_TRACKED:  # forget old aggregations rather than grow for ever
                    self._names.clear()
                self._names[key] = name
            except ApiError:  # the namespace is going away: nobody will read the event
                return
