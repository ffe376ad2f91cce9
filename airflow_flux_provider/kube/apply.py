"""Staged server-side apply with drift detection: fluxcd/pkg ``ssa`` as kustomize-controller uses it.

Order: cluster definitions (CRDs, Namespaces, ClusterRoles) first and waited for, then
``*Class`` kinds, then everything else; within a stage objects are sorted by Flux's
kind order. Each object is dry-run applied first and only written when the dry-run
result differs from the live object, so a no-op reconcile makes zero mutating requests.

Every apply, dry-run included, forces field ownership, as Flux does: Git wins over
``kubectl edit``/``patch``/``scale`` for the fields Git sets, so drift is reverted (and
reported as ``configured``, with the fields that drifted), while fields Git does not set
stay with whoever owns them (replicas an autoscaler manages, say). ``spec.force`` keeps its
Flux meaning: recreate an object whose immutable fields changed. The per-object marks
(:mod:`~airflow_flux_provider.kube.marks`) skip, create-only or merge objects, and fields
kubectl-era managers own are taken over first (:mod:`~airflow_flux_provider.kube.takeover`).
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_flux_provider.kube import kstatus, marks
from airflow_flux_provider.kube.cluster import (
    Cluster,
    ConflictError,
    InvalidObjectError,
    KubeError,
    ObjectKey,
)
from airflow_flux_provider.kube.drift import FieldChange, differences, masked
from airflow_flux_provider.kube.ignore import ABSENT, IgnoreRules, Pointer, drop, lookup, put
from airflow_flux_provider.kube.takeover import applied_by_others, takeover_patch

_FIRST = [
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
]
_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
#: Changed objects a summary names; the rest are counted (4,000 lines help no one in an event).
SUMMARY_ENTRIES = 20
#: Requests in flight at once within a stage: its reads (LISTs, dry-runs), then its writes.
IN_FLIGHT = 4
_IMMUTABLE = re.compile(r"is\simmutable|immutable\sfield")


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"


_WRITES = (Action.CREATED, Action.CONFIGURED)


@dataclass(frozen=True)
class Change:
    """What applying did to one object; ``drift``: the fields that differed, for ``configured`` ones."""

    key: ObjectKey
    action: Action
    drift: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.key} {self.action}"

    def to_xcom(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"object": str(self.key), "action": self.action.value}
        return {**entry, "fields": list(self.drift)} if self.drift else entry


@dataclass
class ChangeSet:
    changes: list[Change] = field(default_factory=list)

    def add(self, key: ObjectKey, action: Action, drift: tuple[str, ...] = ()) -> None:
        self.changes.append(Change(key, action, drift))

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def keys(self) -> list[ObjectKey]:
        return [c.key for c in self.changes]

    @property
    def has_changes(self) -> bool:
        return any(c.action not in (Action.UNCHANGED, Action.SKIPPED) for c in self.changes)

    def counts(self) -> str:
        """``2 created, 1 configured, 3997 unchanged``: every action taken, in the order first seen."""
        return ", ".join(
            f"{n} {action}" for action, n in Counter(c.action.value for c in self.changes).items()
        )

    def summary(self, limit: int = SUMMARY_ENTRIES) -> str:
        """The changed objects, one ``Kind/namespace/name action`` line each (Flux's event message);
        past ``limit`` lines, the rest are counted so an event or log record stays readable."""
        changed = [c for c in self.changes if c.action not in (Action.UNCHANGED, Action.SKIPPED)]
        lines = [str(c) for c in changed[:limit]]
        if len(changed) > limit:
            rest = ChangeSet(changed[limit:])
            lines.append(f"... and {len(rest.changes)} more ({rest.counts()})")
        return "\n".join(lines)

    def to_xcom(self) -> list[dict[str, Any]]:
        return [c.to_xcom() for c in self.changes]


class ApplyError(KubeError):
    """An object could not be applied; ``changes`` lists what was applied before it."""

    def __init__(self, message: str, *, changes: ChangeSet) -> None:
        done = changes.summary()
        super().__init__(message + (f"\nchanges applied before the failure:\n{done}" if done else ""))
        self.changes = changes


@dataclass(frozen=True)
class ObjectDiff:
    """``flux diff`` for one object: the action an apply would take and, when drifted, the fields."""

    key: ObjectKey
    action: Action
    fields: tuple[FieldChange, ...] = ()

    @property
    def drifted(self) -> bool:
        return self.action == Action.CONFIGURED


@dataclass(frozen=True)
class _Plan:
    """The dry-run outcome for one object: what to do, what drifted, and (with ignore rules) what to apply."""

    key: ObjectKey
    action: Action
    drift: tuple[FieldChange, ...] = ()
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class _ReadAhead:
    """One object's live state and first forced dry-run, fetched for a whole stage at once."""

    live: dict[str, Any] | None | KubeError
    dry: dict[str, Any] | KubeError

    def live_object(self) -> dict[str, Any] | None:
        if isinstance(self.live, KubeError):
            raise self.live
        return self.live

    def dry_run(self) -> dict[str, Any]:
        if isinstance(self.dry, KubeError):
            raise self.dry
        return self.dry


def kind_rank(kind: str) -> int:
    if kind in _FIRST:
        return _FIRST.index(kind)
    if kind in _LAST:
        return len(_FIRST) + 1 + _LAST.index(kind)
    return len(_FIRST)


def sort_key(obj: dict[str, Any]) -> tuple[int, str, str, str, str]:
    key = ObjectKey.of(obj)
    return (kind_rank(key.kind), key.group, key.kind, key.namespace, key.name)


def _stage(obj: dict[str, Any]) -> int:
    key = ObjectKey.of(obj)
    if key.kind in ("CustomResourceDefinition", "Namespace") or (
        key.kind == "ClusterRole" and key.group == "rbac.authorization.k8s.io"
    ):
        return 0
    return 1 if key.kind.endswith("Class") else 2


def _immutable(err: KubeError) -> bool:
    """An immutable-field error as Flux detects it: Conflict, Invalid, or the CEL/webhook wording."""
    return isinstance(err, (ConflictError, InvalidObjectError)) or bool(_IMMUTABLE.search(str(err)))


@dataclass
class Applier:
    """Applies sets of objects for one owner through one :class:`Cluster`.

    ``force`` is ``spec.force``: recreate objects whose immutable fields changed (also per
    object with ``kustomize.toolkit.fluxcd.io/force: Enabled``). Field ownership is always forced.
    ``ignore`` (``spec.ignore``) leaves fields out of drift; when an object is applied anyway,
    each ignored field that differs is left to another server-side applier that owns it, or
    keeps its live value, as fluxcd/pkg ``ssa`` does.
    """

    cluster: Cluster
    force: bool = False
    ignore: IgnoreRules = field(default_factory=IgnoreRules)
    definition_timeout: float = 60.0
    poll_interval: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    def apply_all(self, objects: Iterable[dict[str, Any]]) -> ChangeSet:
        """Stage by stage, dry-run every object first and apply only when all of the stage passed.

        As Flux does: one invalid object leaves its whole stage unapplied instead of half-applied.
        The two writes Flux makes while dry-running happen here too: the takeover of kubectl's
        fields (metadata only) and the recreation of an object whose immutable fields changed.
        """
        changes = ChangeSet()
        stages: dict[int, list[dict[str, Any]]] = {0: [], 1: [], 2: []}
        for obj in objects:
            stages[_stage(obj)].append(obj)
        for stage, members in sorted(stages.items()):
            ordered = sorted(members, key=sort_key)
            with _in_flight() as pool:
                ahead = self._read_ahead(ordered, pool)
                plans = [
                    self._plan(obj, changes, write=True, ahead=a)
                    for obj, a in zip(ordered, ahead, strict=True)
                ]
            self._write(plans, ordered, changes)
            if stage < 2 and members:
                self._wait_current([ObjectKey.of(o) for o in members], changes)
                self.cluster.forget_discovery()  # new CRDs serve new kinds
        return changes

    def _write(self, plans: list[_Plan], ordered: list[dict[str, Any]], changes: ChangeSet) -> None:
        """Apply the stage's created and configured objects, ``IN_FLIGHT`` at a time, and record
        each plan in object order. A failed write starts no further one (``False``: not started);
        the first object that failed, in order, is raised with every write that happened (those
        already in flight too)."""
        stop = threading.Event()

        def write(obj: dict[str, Any]) -> bool | KubeError:
            if stop.is_set():
                return False
            try:
                self.cluster.apply(obj, force=True)
            except KubeError as err:
                stop.set()
                return err
            return True

        with _in_flight() as pool:
            futures = [
                pool.submit(write, plan.payload or obj) if plan.action in _WRITES else None
                for plan, obj in zip(plans, ordered, strict=True)
            ]
            outcomes = [future.result() if future else None for future in futures]
        failure: tuple[ObjectKey, KubeError] | None = None
        for plan, outcome in zip(plans, outcomes, strict=True):
            if isinstance(outcome, KubeError):
                failure = failure or (plan.key, outcome)
            elif outcome is not False:  # written, or nothing to write
                changes.add(plan.key, plan.action, tuple(c.pointer for c in plan.drift))
        if failure:
            key, err = failure
            raise ApplyError(f"{key} apply failed: {err.message}", changes=changes)

    def diff(self, desired: dict[str, Any]) -> ObjectDiff:
        """What :meth:`apply_all` would do to ``desired``, with the drifted fields; nothing is written.

        As ``flux diff``: no takeover of kubectl's fields, and an immutable change that the
        apply would recreate the object for reports ``created``.
        """
        plan = self._plan(desired, ChangeSet(), write=False)
        return ObjectDiff(plan.key, plan.action, tuple(masked(plan.key.kind, list(plan.drift))))

    def _read_ahead(self, ordered: list[dict[str, Any]], pool: ThreadPoolExecutor) -> Iterator[_ReadAhead]:
        """Live objects (one LIST per kind and namespace) and dry-runs of a stage, all sent through
        ``pool`` at once and yielded in order as they arrive: a request per object instead of two,
        and the API server busy while this process plans. Reads only; planning still makes every
        write (takeover, recreate) in order, and a failed dry-run is raised when its object's
        turn comes."""
        keys = [ObjectKey.of(obj) for obj in ordered]
        live = pool.submit(self.cluster.get_many, keys)

        def dry_run(obj: dict[str, Any]) -> dict[str, Any] | KubeError:
            try:
                return self.cluster.apply(obj, dry_run=True, force=True)
            except KubeError as err:
                return err

        dries = pool.map(dry_run, ordered)
        found = live.result()
        for key, dry in zip(keys, dries, strict=True):
            yield _ReadAhead(found[key], dry)

    def _plan(
        self, desired: dict[str, Any], changes: ChangeSet, *, write: bool, ahead: _ReadAhead | None = None
    ) -> _Plan:
        """Dry-run ``desired``; with ``write``, also recreate it (immutable change) or take over fields."""
        key = ObjectKey.of(desired)
        try:
            live = ahead.live_object() if ahead else self.cluster.get(key)
            if marks.excluded(desired, live) or (live is not None and marks.if_not_present(desired)):
                return _Plan(key, Action.SKIPPED)
            try:
                dry = ahead.dry_run() if ahead else self.cluster.apply(desired, dry_run=True, force=True)
            except KubeError as err:
                if live is None or not (self.force or marks.force(desired, live)) or not _immutable(err):
                    raise
                if not write:
                    return _Plan(key, Action.CREATED)
                self._recreate(key, desired, err)
                live = None
                dry = self.cluster.apply(desired, dry_run=True, force=True)
            if live is None:
                return _Plan(key, Action.CREATED)
            ignored = self.ignore.pointers(dry)
            if None in ignored:  # the whole object: its drift is nobody's business
                return _Plan(key, Action.UNCHANGED)
            taken = self._take_over(key, live) if write and not marks.merge(desired, live) else None
            if taken is not None:  # the apply now also drops what kubectl set and Git no longer does
                live = taken
                dry = self.cluster.apply(desired, dry_run=True, force=True)
        except KubeError as err:
            raise ApplyError(f"{key} dry-run failed: {err.message}", changes=changes) from None
        pointers = [p for p in ignored if p is not None]
        drift = tuple(differences(_without(live, pointers), _without(dry, pointers)))
        if not drift and taken is None:
            return _Plan(key, Action.UNCHANGED)
        return _Plan(key, Action.CONFIGURED, drift, self._payload(desired, live, dry, pointers))

    def _payload(
        self, desired: dict[str, Any], live: dict[str, Any], dry: dict[str, Any], ignored: list[Pointer]
    ) -> dict[str, Any] | None:
        """``desired`` with each ignored field that differs stripped (another applier owns it, or it
        is not there) or set to its live value, so applying changes none of them."""
        payload = None
        for pointer in ignored:
            live_value = lookup(live, pointer)
            if live_value == lookup(dry, pointer):
                continue
            payload = payload or copy.deepcopy(desired)
            if (
                live_value is ABSENT
                or applied_by_others(live, pointer, self.cluster.field_manager)
                or not put(payload, pointer, copy.deepcopy(live_value))
            ):
                drop(payload, pointer)
        return payload

    def _take_over(self, key: ObjectKey, live: dict[str, Any]) -> dict[str, Any] | None:
        """Hand fields kubectl-era managers own to us (Flux's apply cleanup): the object after, if patched."""
        patch = takeover_patch(live, self.cluster.field_manager)
        return self.cluster.json_patch(key, patch) if patch else None

    def _recreate(self, key: ObjectKey, desired: dict[str, Any], cause: KubeError) -> None:
        """Delete the live object for an immutable change, once the API server accepts ``desired`` as new.

        Flux deletes first and finds out afterwards; a dry-run create first means an object that
        is invalid anyway (a typo, not an immutable field) is reported, not lost.
        """
        try:
            self.cluster.create(desired, dry_run=True)
        except ConflictError:
            pass  # AlreadyExists: valid as a new object
        except KubeError as err:
            message = f"{cause.message}; not recreated, it is not valid as a new object either: {err.message}"
            raise KubeError(message) from None
        self.cluster.delete(key)
        deadline = time.monotonic() + self.definition_timeout
        while self.cluster.get(key) is not None:
            if time.monotonic() > deadline:
                raise KubeError("was deleted to change an immutable field but did not go away", obj=str(key))
            self.sleep(self.poll_interval)

    def _wait_current(self, keys: list[ObjectKey], changes: ChangeSet) -> None:
        deadline = time.monotonic() + self.definition_timeout
        pending = list(keys)
        while pending:
            pending = [
                k for k in pending if kstatus.compute(self.cluster.get(k)).status != kstatus.Status.CURRENT
            ]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(str(k) for k in pending)
                raise ApplyError(
                    f"definitions not ready after {self.definition_timeout:.0f}s: {names}",
                    changes=changes,
                )
            self.sleep(self.poll_interval)


@contextmanager
def _in_flight() -> Iterator[ThreadPoolExecutor]:
    """``IN_FLIGHT`` request threads; when planning fails, the requests not yet sent are dropped."""
    pool = ThreadPoolExecutor(max_workers=IN_FLIGHT)
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _without(obj: dict[str, Any], pointers: list[Pointer]) -> dict[str, Any]:
    if not pointers:
        return obj
    copied = copy.deepcopy(obj)
    for pointer in pointers:
        drop(copied, pointer)
    return copied


def with_owner_labels(objects: Iterable[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Copies of ``objects`` carrying the owner labels (and nothing else changed)."""
    result = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        result.append(obj)
    return result
