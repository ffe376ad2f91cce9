"""helm-controller's release state machine as pure decisions over typed values.

:func:`classify` says where a release stands (helm-controller's ``DetermineReleaseState``),
:func:`decide` what to do about it (``actionForState``, with its retry and remediation
rules). Neither does I/O: :class:`~airflow_flux_provider.helm.release.ReleaseReconciler`
reads helm's storage and the HelmRelease status into an :class:`Observation`, runs the
decided action with the real helm binary and asks again, as
:mod:`~airflow_flux_provider.canary.analysis` drives Flagger's loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from airflow_flux_provider.specs import HelmRelease
from airflow_flux_provider.specs.helmrelease import Install, Upgrade


class HelmStatus(StrEnum):
    """A revision's status in helm's storage."""

    UNKNOWN = "unknown"
    DEPLOYED = "deployed"
    UNINSTALLED = "uninstalled"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"

    @property
    def pending(self) -> bool:
        return self in (HelmStatus.PENDING_INSTALL, HelmStatus.PENDING_UPGRADE, HelmStatus.PENDING_ROLLBACK)

    @property
    def good(self) -> bool:
        """A revision a rollback may return to."""
        return self in (HelmStatus.DEPLOYED, HelmStatus.SUPERSEDED)


@dataclass(frozen=True)
class HelmRevision:
    """One revision in helm's storage (a line of ``helm history``)."""

    revision: int
    status: HelmStatus
    chart: str = ""  # <name>-<version>
    updated: str = ""

    @classmethod
    def from_release(cls, release: Any) -> HelmRevision:
        """A release as helm stores and prints it (``--output json``); ``ValueError`` when it is not one."""
        try:
            info, chart = release["info"], release["chart"]["metadata"]
            if isinstance(release["version"], bool):
                raise TypeError
            return cls(
                int(release["version"]),
                HelmStatus(info.get("status", "unknown")),
                f"{chart['name']}-{chart['version']}",
                str(info.get("last_deployed", "")),
            )
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"not a helm release: {str(release)[:200]}") from None

    @classmethod
    def from_release_output(cls, out: str) -> HelmRevision | None:
        """The revision ``helm install|upgrade --output json`` printed; None when it printed none."""
        try:
            return cls.from_release(json.loads(out))
        except ValueError:
            return None


class Action(StrEnum):
    """What a reconcile did to the release."""

    INSTALL = "install"
    UPGRADE = "upgrade"
    TEST = "test"
    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"
    CORRECT_DRIFT = "correct-drift"


@dataclass(frozen=True)
class Step:
    """One action of a reconcile and whether it failed (``upgrade``, ``upgrade-failed``)."""

    action: Action
    failed: bool = False

    def __str__(self) -> str:
        return f"{self.action}-failed" if self.failed else str(self.action)


@dataclass(frozen=True)
class Snapshot:
    """Flux's record of one helm revision it made (``.status.history[]``), newest first in the status.

    Written in helm-controller's shape (``testHooks`` as ``{name: {phase}}``) plus what our
    state machine needs (``action``, ``postRenderersDigest``, ``testFailed``, ``healthFailed``);
    a snapshot helm-controller wrote reads back as an upgrade's.
    """

    version: int
    name: str
    namespace: str
    chart_name: str
    chart_version: str
    config_digest: str
    post_renderers_digest: str
    status: HelmStatus
    action: Action
    app_version: str = ""
    last_deployed: str = ""
    #: test hook name -> phase; None until the revision was tested
    test_hooks: tuple[tuple[str, str], ...] | None = None
    test_failed: bool = False
    #: the caller's health check after a release without ``--wait`` failed
    health_failed: bool = False

    @property
    def tested(self) -> bool:
        return self.test_hooks is not None

    def tested_with(self, hooks: dict[str, str], *, failed: bool) -> Snapshot:
        return replace(self, test_hooks=tuple(sorted(hooks.items())), test_failed=failed)

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "version": self.version, "name": self.name, "namespace": self.namespace,
            "chartName": self.chart_name, "chartVersion": self.chart_version, "appVersion": self.app_version,
            "configDigest": self.config_digest, "postRenderersDigest": self.post_renderers_digest,
            "status": self.status.value, "action": self.action.value, "lastDeployed": self.last_deployed,
        }  # fmt: skip
        if self.test_hooks is not None:
            status["testHooks"] = {name: {"phase": phase} for name, phase in self.test_hooks}
            status["testFailed"] = self.test_failed
        if self.health_failed:
            status["healthFailed"] = True
        return status

    @classmethod
    def from_status(cls, entry: Any) -> Snapshot:
        """One ``.status.history`` entry; ``ValueError`` naming what is wrong with it."""
        if not isinstance(entry, dict):
            raise ValueError("a history entry must be a mapping")
        hooks = entry.get("testHooks")
        if hooks is not None and not isinstance(hooks, dict):
            raise ValueError("testHooks must map hook names to their phase")
        try:
            return cls(
                version=_integer(entry["version"]),
                name=str(entry.get("name", "")),
                namespace=str(entry.get("namespace", "")),
                chart_name=str(entry.get("chartName", "")),
                chart_version=str(entry.get("chartVersion", "")),
                config_digest=str(entry.get("configDigest", "")),
                post_renderers_digest=str(entry.get("postRenderersDigest", "")),
                status=HelmStatus(entry.get("status", "unknown")),
                action=Action(entry.get("action", "upgrade")),
                app_version=str(entry.get("appVersion", "")),
                last_deployed=str(entry.get("lastDeployed", "")),
                test_hooks=None
                if hooks is None
                else tuple(sorted((str(k), _phase(v)) for k, v in hooks.items())),
                test_failed=entry.get("testFailed") is True,
                health_failed=entry.get("healthFailed") is True,
            )
        except KeyError as err:
            raise ValueError(f"{err.args[0]} is missing") from None


def _phase(hook: Any) -> str:
    """A test hook's phase: helm-controller writes ``{lastStarted, lastCompleted, phase}``."""
    phase = hook.get("phase") if isinstance(hook, dict) else hook
    if not isinstance(phase, str):
        raise ValueError("testHooks must map hook names to their phase")
    return phase


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"version must be an integer, not {value!r}")
    return value


class State(StrEnum):
    """Where a release stands against its HelmRelease."""

    ABSENT = "Absent"
    LOCKED = "Locked"
    UNMANAGED = "Unmanaged"
    FAILED = "Failed"
    OUT_OF_SYNC = "OutOfSync"
    UNTESTED = "Untested"
    IN_SYNC = "InSync"


@dataclass(frozen=True)
class Desired:
    """What the release should be made of."""

    chart_name: str
    chart_version: str
    config_digest: str
    post_renderers_digest: str


@dataclass(frozen=True)
class Failures:
    """helm-controller's failure counters, which the remediation rules count against."""

    install: int = 0
    upgrade: int = 0

    def of(self, action: Action) -> int:
        return self.install if action is Action.INSTALL else self.upgrade


@dataclass(frozen=True)
class Observation:
    """Everything :func:`classify` and :func:`decide` read."""

    latest: HelmRevision | None
    #: our snapshot of ``latest``; None when we did not make that revision
    snapshot: Snapshot | None
    failures: Failures
    last_attempted: Action | None = None
    #: a force (``flux reconcile --force``, the operator's ``force``) not yet spent on an action
    forced: bool = False


class Next(StrEnum):
    """The action a decision calls for."""

    NOTHING = "nothing"  # in sync: look for drift, then stop
    INSTALL = "install"
    UPGRADE = "upgrade"
    TEST = "test"
    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"
    GIVE_UP = "give-up"  # out of retries


@dataclass(frozen=True)
class Decision:
    state: State
    next: Next
    #: a rollback or uninstall that remediates a failed release (or unlocks a pending one)
    remediation: bool = False
    unlock: bool = False
    #: the action whose retries are exhausted: at once with GIVE_UP, after a remediation otherwise
    exhausted: Action | None = None
    #: whether the action uses up a pending force
    spends_force: bool = False


def action_spec(hr: HelmRelease, action: Action | None) -> Install | Upgrade:
    """Install and upgrade each carry their own remediation; any other action is an upgrade's."""
    return hr.spec.install if action is Action.INSTALL else hr.spec.upgrade


def ignores_test_failures(hr: HelmRelease, action: Action | None) -> bool:
    """The action's ``remediation.ignoreTestFailures``, else ``test.ignoreFailures``."""
    remediation = action_spec(hr, action).remediation
    if remediation.ignore_test_failures is not None:
        return remediation.ignore_test_failures
    return hr.spec.test.ignore_failures


def exhausted(hr: HelmRelease, failures: Failures, action: Action) -> bool:
    """More failures than ``remediation.retries`` (a negative count retries for ever)."""
    retries = action_spec(hr, action).remediation.retries
    return retries >= 0 and failures.of(action) > retries


def classify(hr: HelmRelease, seen: Observation, desired: Desired) -> State:
    latest, snap = seen.latest, seen.snapshot
    if latest is None or latest.status is HelmStatus.UNINSTALLED:
        return State.ABSENT
    if latest.status.pending:
        return State.LOCKED
    if latest.status is HelmStatus.FAILED:
        return State.FAILED
    if snap is None:
        return State.UNMANAGED
    if snap.health_failed or (snap.test_failed and not ignores_test_failures(hr, snap.action)):
        return State.FAILED
    current = Desired(snap.chart_name, snap.chart_version, snap.config_digest, snap.post_renderers_digest)
    if current != desired:
        return State.OUT_OF_SYNC
    if hr.spec.test.enable and not snap.tested:
        return State.UNTESTED
    return State.IN_SYNC


def decide(hr: HelmRelease, seen: Observation, desired: Desired) -> Decision:
    """The next action for the release, by helm-controller's rules."""
    state = classify(hr, seen, desired)
    match state:
        case State.IN_SYNC:
            return Decision(state, Next.UPGRADE if seen.forced else Next.NOTHING, spends_force=seen.forced)
        case State.ABSENT:
            if exhausted(hr, seen.failures, Action.INSTALL) and not seen.forced:
                return Decision(state, Next.GIVE_UP, exhausted=Action.INSTALL)
            return Decision(state, Next.INSTALL, spends_force=True)
        case State.LOCKED:
            assert seen.latest is not None
            first = seen.latest.status is HelmStatus.PENDING_INSTALL or seen.latest.revision == 1
            return Decision(state, Next.UNINSTALL if first else Next.ROLLBACK, remediation=True, unlock=True)
        case State.FAILED:
            return _remediate(hr, seen, state)
        case State.OUT_OF_SYNC | State.UNMANAGED:
            renamed = seen.snapshot is not None and seen.snapshot.chart_name != desired.chart_name
            if renamed and hr.spec.upgrade.chart_name_change_strategy == "Reinstall":
                return Decision(state, Next.UNINSTALL)  # then installed with the new chart
            if exhausted(hr, seen.failures, Action.UPGRADE) and not seen.forced:
                return Decision(state, Next.GIVE_UP, exhausted=Action.UPGRADE)
            return Decision(state, Next.UPGRADE, spends_force=True)
    return Decision(state, Next.TEST)  # State.UNTESTED


def _remediate(hr: HelmRelease, seen: Observation, state: State) -> Decision:
    """A failed release: retry with an upgrade, remediate (roll back or uninstall), or give up."""
    action = seen.snapshot.action if seen.snapshot is not None else seen.last_attempted
    spec = action_spec(hr, action)
    retry = spec.strategy is not None and spec.strategy.name == "RetryOnFailure"
    if retry or action is None or seen.failures.of(action) <= 0 or seen.forced:
        return Decision(state, Next.UPGRADE, spends_force=True)
    out_of_retries = exhausted(hr, seen.failures, action)
    if out_of_retries and not spec.remediation.remediate_last_failure:
        return Decision(state, Next.GIVE_UP, exhausted=action)
    uninstall = action is Action.INSTALL or hr.spec.upgrade.remediation.strategy == "uninstall"
    return Decision(
        state,
        Next.UNINSTALL if uninstall else Next.ROLLBACK,
        remediation=True,
        exhausted=action if out_of_retries else None,  # the last failure remediated, no retry left
        spends_force=True,
    )
