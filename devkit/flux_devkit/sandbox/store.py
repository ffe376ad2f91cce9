"""Object storage with one global resourceVersion and a bounded event log for watches.

Stored objects are never mutated: writers replace them whole, so readers may serialize
them without copying. Watchers follow the event log from a resourceVersion; one that
asks for a version the log no longer holds gets 410 Gone, as from etcd compaction.
"""

from __future__ import annotations

import builtins
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flux_devkit.sandbox.status import ApiError

ObjectKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped
TypeKey = tuple[str, str]  # (group, plural)

#: etcd's default ``--max-request-bytes`` (1.5 MiB). The API server's own limit is on request
#: bodies (3 MiB); an object it accepts but cannot store in one etcd request fails later, with
#: etcd's error passed through as a 500 without a reason (kubernetes/kubernetes#74600, #112152).
#: Custom resources are stored as JSON, so their JSON size is what counts; built-in kinds are
#: stored as protobuf, which their JSON size bounds from above.
MAX_OBJECT_BYTES = 1536 * 1024
TOO_LARGE = "etcdserver: request is too large"


def _owners(obj: dict[str, Any]) -> list[str]:
    return [str(ref.get("uid")) for ref in obj["metadata"].get("ownerReferences") or []]


def _addresses(obj: dict[str, Any]) -> list[str]:
    """The IPs an object holds: a Service's clusterIP, a Pod's podIP."""
    held = [(obj.get("spec") or {}).get("clusterIP"), (obj.get("status") or {}).get("podIP")]
    return [str(a) for a in held if a and a != "None"]


#: What the store looks objects up by besides their key, as a controller's informer indexes:
#: each lookup would otherwise read every stored object, per request (quadratic at 10,000 objects).
INDEXES: dict[str, Callable[[dict[str, Any]], builtins.list[str]]] = {
    "owner": _owners,  # the uids of its ownerReferences: a GC or a controller finding dependents
    "uid": lambda obj: [str(obj["metadata"].get("uid", ""))],
    "address": _addresses,  # handing out a free IP
}


@dataclass(frozen=True)
class Event:
    rv: int
    group: str
    plural: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None = None  # the object before a MODIFIED event

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace", ""))


class Store:
    """All objects of the sandbox, keyed by (group, plural) then (namespace, name)."""

    def __init__(self, *, log_size: int = 20_000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[TypeKey, dict[ObjectKey, dict[str, Any]]] = {}
        self._log: list[Event] = []  # consecutive resourceVersions, so an rv maps to an index
        self._log_size = log_size
        self._rv = 0
        self._compacted = 0  # events with rv <= this are gone from the log
        self._indexes: dict[str, dict[str, set[tuple[TypeKey, ObjectKey]]]] = {name: {} for name in INDEXES}
        self.dirty = False

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get((group, plural), {}).get((namespace, name))

    def list(self, group: str, plural: str, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        with self.lock:
            bucket = self._objects.get((group, plural), {})
            if namespace is None:
                items = list(bucket.items())
            else:
                items = [(k, v) for k, v in bucket.items() if k[0] == namespace]
        items.sort(key=lambda kv: kv[0])
        return [v for _, v in items]

    def indexed(self, index: str, value: str) -> builtins.list[tuple[TypeKey, dict[str, Any]]]:
        """The stored objects whose ``index`` (see :data:`INDEXES`) has ``value``, with their type."""
        with self.lock:
            found = [
                (type_key, self._objects[type_key][key])
                for type_key, key in self._indexes[index].get(value, ())
            ]
        return sorted(found, key=lambda entry: (entry[0], _key(entry[1])))

    def holds_address(self, address: str) -> bool:
        """Whether a stored object holds this IP (a Service's clusterIP, a Pod's podIP)."""
        return bool(self._indexes["address"].get(address))

    def _index(
        self, type_key: TypeKey, key: ObjectKey, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        for name, values_of in INDEXES.items():
            index = self._indexes[name]
            before = set(values_of(old)) if old else set()
            after = set(values_of(new)) if new else set()
            for value in before - after:
                entries = index[value]
                entries.discard((type_key, key))
                if not entries:
                    del index[value]
            for value in after - before:
                index.setdefault(value, set()).add((type_key, key))

    def types(self) -> builtins.list[TypeKey]:
        with self.lock:
            return [key for key, bucket in self._objects.items() if bucket]

    def put(self, group: str, plural: str, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Store ``obj`` with a fresh resourceVersion and record the event; returns the stored object.

        An object etcd would refuse (:data:`MAX_OBJECT_BYTES`) is refused as the API server
        passes etcd's error on, and nothing changes (dry-runs never get here, as they never
        reach etcd).
        """
        if len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_OBJECT_BYTES:
            raise ApiError(500, TOO_LARGE, reason="")
        with self.lock:
            meta = obj["metadata"]
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            key = (meta.get("namespace", ""), meta["name"])
            bucket = self._objects.setdefault((group, plural), {})
            old = bucket.get(key)
            bucket[key] = obj
            self._index((group, plural), key, old, obj)
            self._record(Event(self._rv, group, plural, event_type, obj, old))
            return obj

    def remove(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self._objects.get((group, plural), {}).pop((namespace, name), None)
            if obj is None:
                return None
            self._index((group, plural), (namespace, name), obj, None)
            self._rv += 1
            gone = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}
            self._record(Event(self._rv, group, plural, "DELETED", gone))
            return gone

    def drop_type(self, group: str, plural: str) -> builtins.list[dict[str, Any]]:
        """Remove every object of a type (its CRD was deleted); returns what was removed."""
        with self.lock:
            removed = []
            for namespace, name in list(self._objects.get((group, plural), {})):
                obj = self.remove(group, plural, namespace, name)
                if obj is not None:
                    removed.append(obj)
            return removed

    def _record(self, event: Event) -> None:
        self._log.append(event)
        if len(self._log) >= 2 * self._log_size:  # compact in halves: amortised O(1) per event
            dropped = len(self._log) - self._log_size
            self._compacted = self._log[dropped - 1].rv
            del self._log[:dropped]
        self.dirty = True
        self.changed.notify_all()

    def events_after(self, rv: int) -> builtins.list[Event]:
        """Events newer than ``rv``; 410 Gone when some of them were already dropped from the log."""
        with self.lock:
            if rv < self._compacted:
                raise ApiError(
                    410, f"too old resource version: {rv} ({self._compacted + 1})", reason="Expired"
                )
            if rv >= self._rv:
                return []
            first = self._log[0].rv if self._log else self._rv + 1
            return self._log[max(0, rv - first + 1) :]

    def wait(self, rv: int, timeout: float) -> None:
        """Block until something newer than ``rv`` happened or ``timeout`` passed."""
        with self.changed:
            if self._rv <= rv:
                self.changed.wait(timeout)

    def wake_all(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # -- persistence ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            self.dirty = False
            return {
                "resourceVersion": self._rv,
                "objects": [
                    {"group": g, "plural": p, "object": obj}
                    for (g, p), bucket in self._objects.items()
                    for obj in bucket.values()
                ],
            }

    def save(self, path: Path) -> None:
        """Write the state atomically (temp file + rename) so a crash never leaves half a file."""
        data = json.dumps(self.snapshot(), separators=(",", ":"))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        # 0600 from the first byte: the state holds Secrets (os.replace keeps the mode).
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "w") as out:
            out.write(data)
        os.replace(tmp, path)

    def load(self, path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Load a saved state; yields every (group, plural, object) so callers can rebuild CRD types."""
        data = json.loads(path.read_text())
        with self.lock:
            self._rv = int(data["resourceVersion"])
            self._compacted = self._rv
            for entry in data["objects"]:
                obj = entry["object"]
                meta = obj["metadata"]
                key = (meta.get("namespace", ""), meta["name"])
                self._objects.setdefault((entry["group"], entry["plural"]), {})[key] = obj
                self._index((entry["group"], entry["plural"]), key, None, obj)
                yield entry["group"], entry["plural"], obj


def _key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]
