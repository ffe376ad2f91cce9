"""One run at a time per Flux object: a ``coordination.k8s.io/v1`` Lease, as controllers elect leaders.

Airflow runs a DAG's runs in parallel and receivers start more, so two reconciles of one
Kustomization can overlap; each would read the inventory, apply, and write back its own,
and whatever the first applied that the second did not would be in no inventory and
never pruned. Flux avoids it with one worker per object; here the object's Lease
(``flux-<kind>-<name>`` in its namespace) is taken before the status is read and given
back after it is written. A holder that died leaves a Lease that expires after
``duration`` seconds; a live one renews it while it works. Every write to the Lease
carries the ``resourceVersion`` it read, so two takers never both win.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_flux_provider.kube.cluster import Cluster, ConflictError, KubeError, NotFoundError, ObjectKey

log = logging.getLogger(__name__)

LEASE_API_VERSION = "coordination.k8s.io/v1"
_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeaseHeldError(KubeError):
    """Another run holds the object's Lease longer than this run may wait; the task retries later."""


@dataclass(frozen=True)
class LeaseSettings:
    duration_seconds: int = 60  # how long a Lease outlives a holder that stopped renewing it
    wait_seconds: float = 900.0  # how long a run waits for another to finish before giving up
    poll_seconds: float = 1.0


def holder_identity() -> str:
    """This process and thread, as a Lease holder (``host/pid/thread``)."""
    return f"{socket.gethostname()}/{os.getpid()}/{threading.get_ident()}"


def lease_name(key: ObjectKey) -> str:
    """``flux-<kind>-<name>``, shortened with a hash when it would pass the 253-character limit."""
    name = f"flux-{key.kind.lower()}-{key.name}"
    if len(name) <= 253:
        return name
    return f"{name[:236]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _expired(spec: dict[str, Any], now: datetime) -> bool:
    try:
        renewed = datetime.strptime(str(spec.get("renewTime")), _MICRO).replace(tzinfo=UTC)
    except ValueError:
        return True  # never renewed, or not a time: nobody can be relying on it
    return (now - renewed).total_seconds() > float(spec.get("leaseDurationSeconds") or 0)


class _Lease:
    """The Lease of one object, taken and renewed by one holder."""

    def __init__(self, cluster: Cluster, key: ObjectKey, holder: str, settings: LeaseSettings) -> None:
        self.cluster, self.key, self.holder, self.settings = cluster, key, holder, settings
        self.name = lease_name(key)
        self.ref = f"Lease/{key.namespace}/{self.name}"
        self.live: dict[str, Any] | None = None
        self.lost = False

    def _path(self, name: str = "") -> str:
        return self.cluster.resource(LEASE_API_VERSION, "Lease").path(self.key.namespace, name)

    def _spec(self, acquired: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.settings.duration_seconds,
            "acquireTime": acquired,
            "renewTime": _now().strftime(_MICRO),
            "leaseTransitions": transitions,
        }

    def try_acquire(self) -> str | None:
        """Take the Lease if it is free, expired or ours; else who holds it."""
        current = self.cluster.get(ObjectKey(LEASE_API_VERSION, "Lease", self.key.namespace, self.name))
        stamp = _now().strftime(_MICRO)
        if current is None:
            body = {"apiVersion": LEASE_API_VERSION, "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.key.namespace},
                    "spec": self._spec(stamp, 0)}  # fmt: skip
            try:
                self.live = self._create(body)
            except ConflictError:  # created by another taker a moment ago
                return "another run"
            return None
        spec = current.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        if holder and holder != self.holder and not _expired(spec, _now()):
            return f"{holder} (since {spec.get('acquireTime', '?')})"
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.holder else 1)
        acquired = str(spec.get("acquireTime") or stamp) if holder == self.holder else stamp
        try:
            self.live = self.cluster.request(
                "PUT", self._path(self.name), body={**current, "spec": self._spec(acquired, transitions)},
                obj=self.ref,
            )  # fmt: skip
        except ConflictError:  # another taker wrote it between our read and our write
            return "another run"
        return None

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.cluster.request("POST", self._path(), body=body, obj=self.ref)
        except NotFoundError:  # the object's namespace (flux-system, usually) on first use
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.key.namespace}}
            self.cluster.apply(namespace)
            return self.cluster.request("POST", self._path(), body=body, obj=self.ref)

    def renew(self) -> None:
        if self.live is None:
            return
        spec = dict(self.live.get("spec") or {})
        spec["renewTime"] = _now().strftime(_MICRO)
        try:
            self.live = self.cluster.request(
                "PUT", self._path(self.name), body={**self.live, "spec": spec}, obj=self.ref
            )
        except KubeError as err:
            self.lost = True
            log.error("%s: could not renew %s: %s; another run may take it over", self.key, self.ref, err)

    def release(self) -> None:
        if self.live is None or self.lost:
            return
        version = self.live["metadata"]["resourceVersion"]
        # taken over after it expired, or removed: either way no longer ours to give back
        with contextlib.suppress(ConflictError, NotFoundError):
            self.cluster.request(
                "DELETE", self._path(self.name), body={"preconditions": {"resourceVersion": version}},
                obj=self.ref,
            )  # fmt: skip


@contextmanager
def object_lease(
    cluster: Cluster,
    key: ObjectKey,
    *,
    holder: str | None = None,
    settings: LeaseSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the Lease of the Flux object ``key`` for the block, waiting while another run holds it."""
    settings = settings or LeaseSettings()
    lease = _Lease(cluster, key, holder or holder_identity(), settings)
    deadline = time.monotonic() + settings.wait_seconds
    while (held_by := lease.try_acquire()) is not None:
        if time.monotonic() >= deadline:
            raise LeaseHeldError(
                f"another run is reconciling it: {lease.ref} is held by {held_by}; this run waited "
                f"{settings.wait_seconds:.0f}s and will be retried",
                obj=str(key),
            )
        log.info("%s: waiting for %s, held by %s", key, lease.ref, held_by)
        sleep(settings.poll_seconds)
    stop = threading.Event()

    def keep_renewing() -> None:
        while not stop.wait(settings.duration_seconds / 3):
            lease.renew()

    renewer = threading.Thread(target=keep_renewing, name=f"lease-{lease.name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        lease.release()
