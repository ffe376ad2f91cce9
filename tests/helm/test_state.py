"""helm-controller's release states and next actions as tables (helm/state.py is pure: no helm here).

Each row is one rule of ``DetermineReleaseState`` / ``actionForState`` with its retry and
remediation settings; the lifecycle tests in test_release.py run the same rules with helm.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from airflow_flux_provider.helm.errors import Reason
from airflow_flux_provider.helm.state import (
    Action,
    Decision,
    Desired,
    Failures,
    HelmRevision,
    HelmStatus,
    Next,
    Observation,
    Snapshot,
    State,
    Step,
    decide,
)
from airflow_flux_provider.helm.status import HelmReleaseStatus
from tests.helm.conftest import helm_release

DESIRED = Desired("web", "1.2.0", "sha256:values", "sha256:renderers")
SNAP = Snapshot(
    version=3, name="web", namespace="apps", chart_name="web", chart_version="1.2.0",
    config_digest="sha256:values", post_renderers_digest="sha256:renderers",
    status=HelmStatus.DEPLOYED, action=Action.UPGRADE,
)  # fmt: skip


def _seen(
    status: HelmStatus | None = HelmStatus.DEPLOYED,
    snapshot: Snapshot | None = SNAP,
    *,
    revision: int = 3,
    install: int = 0,
    upgrade: int = 0,
    forced: bool = False,
    attempted: Action | None = None,
) -> Observation:
    latest = None if status is None else HelmRevision(revision, status, "web-1.2.0")
    return Observation(latest, snapshot, Failures(install, upgrade), attempted, forced)


CASES: list[tuple[str, dict[str, Any], Observation, Decision]] = [
    ("never installed", {}, _seen(None, None), Decision(State.ABSENT, Next.INSTALL, spends_force=True)),
    ("uninstalled, history kept", {}, _seen(HelmStatus.UNINSTALLED),
     Decision(State.ABSENT, Next.INSTALL, spends_force=True)),
    ("install out of retries", {"install": {"remediation": {"retries": 1}}}, _seen(None, None, install=2),
     Decision(State.ABSENT, Next.GIVE_UP, exhausted=Action.INSTALL)),
    ("install out of retries, forced", {"install": {"remediation": {"retries": 1}}},
     _seen(None, None, install=2, forced=True), Decision(State.ABSENT, Next.INSTALL, spends_force=True)),
    ("retries < 0 retry for ever", {"install": {"remediation": {"retries": -1}}},
     _seen(None, None, install=99),
     Decision(State.ABSENT, Next.INSTALL, spends_force=True)),
    ("pending install is uninstalled", {}, _seen(HelmStatus.PENDING_INSTALL, revision=1),
     Decision(State.LOCKED, Next.UNINSTALL, remediation=True, unlock=True)),
    ("pending first upgrade is uninstalled", {}, _seen(HelmStatus.PENDING_UPGRADE, revision=1),
     Decision(State.LOCKED, Next.UNINSTALL, remediation=True, unlock=True)),
    ("pending upgrade is rolled back", {}, _seen(HelmStatus.PENDING_UPGRADE),
     Decision(State.LOCKED, Next.ROLLBACK, remediation=True, unlock=True)),
    ("failed upgrade is rolled back", {"upgrade": {"remediation": {"retries": 3}}},
     _seen(HelmStatus.FAILED, upgrade=1),
     Decision(State.FAILED, Next.ROLLBACK, remediation=True, spends_force=True)),
    ("last failure remediated, then out of retries", {"upgrade": {"remediation": {"retries": 3}}},
     _seen(HelmStatus.FAILED, upgrade=4),
     Decision(State.FAILED, Next.ROLLBACK, remediation=True, exhausted=Action.UPGRADE, spends_force=True)),
    ("last failure left alone", {"upgrade": {"remediation": {"retries": 3, "remediateLastFailure": False}}},
     _seen(HelmStatus.FAILED, upgrade=4), Decision(State.FAILED, Next.GIVE_UP, exhausted=Action.UPGRADE)),
    ("retries 0: remediateLastFailure defaults to false", {}, _seen(HelmStatus.FAILED, upgrade=1),
     Decision(State.FAILED, Next.GIVE_UP, exhausted=Action.UPGRADE)),
    ("failed install is uninstalled", {"install": {"remediation": {"retries": 2}}},
     _seen(HelmStatus.FAILED, replace(SNAP, action=Action.INSTALL), install=1),
     Decision(State.FAILED, Next.UNINSTALL, remediation=True, spends_force=True)),
    ("upgrade remediation by uninstall",
     {"upgrade": {"remediation": {"retries": 2, "strategy": "uninstall"}}},
     _seen(HelmStatus.FAILED, upgrade=1),
     Decision(State.FAILED, Next.UNINSTALL, remediation=True, spends_force=True)),
    ("RetryOnFailure upgrades again", {"upgrade": {"strategy": {"name": "RetryOnFailure"}}},
     _seen(HelmStatus.FAILED, upgrade=5), Decision(State.FAILED, Next.UPGRADE, spends_force=True)),
    ("a failure we did not count is upgraded", {}, _seen(HelmStatus.FAILED, None),
     Decision(State.FAILED, Next.UPGRADE, spends_force=True)),
    ("forced past a failure", {}, _seen(HelmStatus.FAILED, upgrade=3, forced=True),
     Decision(State.FAILED, Next.UPGRADE, spends_force=True)),
    ("unhealthy after a release", {"upgrade": {"remediation": {"retries": 1}}},
     _seen(HelmStatus.DEPLOYED, replace(SNAP, health_failed=True), upgrade=1),
     Decision(State.FAILED, Next.ROLLBACK, remediation=True, spends_force=True)),
    ("a failed test fails the release",
     {"test": {"enable": True}, "upgrade": {"remediation": {"retries": 1}}},
     _seen(HelmStatus.DEPLOYED, SNAP.tested_with({"smoke": "Failed"}, failed=True), upgrade=1),
     Decision(State.FAILED, Next.ROLLBACK, remediation=True, spends_force=True)),
    ("test.ignoreFailures keeps it in sync", {"test": {"enable": True, "ignoreFailures": True}},
     _seen(HelmStatus.DEPLOYED, SNAP.tested_with({"smoke": "Failed"}, failed=True)),
     Decision(State.IN_SYNC, Next.NOTHING)),
    ("remediation.ignoreTestFailures wins over test.ignoreFailures",
     {"test": {"enable": True, "ignoreFailures": True},
      "upgrade": {"remediation": {"ignoreTestFailures": False}}},
     _seen(HelmStatus.DEPLOYED, SNAP.tested_with({"smoke": "Failed"}, failed=True)),
     Decision(State.FAILED, Next.UPGRADE, spends_force=True)),
    ("a revision we did not make", {}, _seen(HelmStatus.DEPLOYED, None),
     Decision(State.UNMANAGED, Next.UPGRADE, spends_force=True)),
    ("new values", {}, _seen(snapshot=replace(SNAP, config_digest="sha256:old")),
     Decision(State.OUT_OF_SYNC, Next.UPGRADE, spends_force=True)),
    ("new chart version", {}, _seen(snapshot=replace(SNAP, chart_version="1.1.0")),
     Decision(State.OUT_OF_SYNC, Next.UPGRADE, spends_force=True)),
    ("new post-renderers", {}, _seen(snapshot=replace(SNAP, post_renderers_digest="sha256:old")),
     Decision(State.OUT_OF_SYNC, Next.UPGRADE, spends_force=True)),
    ("upgrade out of retries", {}, _seen(snapshot=replace(SNAP, config_digest="sha256:old"), upgrade=1),
     Decision(State.OUT_OF_SYNC, Next.GIVE_UP, exhausted=Action.UPGRADE)),
    ("renamed chart is reinstalled", {}, _seen(snapshot=replace(SNAP, chart_name="old-web")),
     Decision(State.OUT_OF_SYNC, Next.UNINSTALL)),
    ("renamed chart upgraded in place", {"upgrade": {"chartNameChangeStrategy": "InPlaceUpdate"}},
     _seen(snapshot=replace(SNAP, chart_name="old-web")),
     Decision(State.OUT_OF_SYNC, Next.UPGRADE, spends_force=True)),
    ("tests enabled, not run yet", {"test": {"enable": True}}, _seen(),
     Decision(State.UNTESTED, Next.TEST)),
    ("tested and in sync", {"test": {"enable": True}},
     _seen(snapshot=SNAP.tested_with({"smoke": "Succeeded"}, failed=False)),
     Decision(State.IN_SYNC, Next.NOTHING)),
    ("in sync", {}, _seen(), Decision(State.IN_SYNC, Next.NOTHING)),
    ("in sync, forced", {}, _seen(forced=True), Decision(State.IN_SYNC, Next.UPGRADE, spends_force=True)),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "seen", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_action_follows_helm_controller(
    spec: dict[str, Any], seen: Observation, expected: Decision
) -> None:
    assert decide(helm_release("apps", spec), seen, DESIRED) == expected


def test_snapshots_round_trip_through_the_status() -> None:
    tested = replace(SNAP.tested_with({"b": "Succeeded", "a": "Failed"}, failed=True), health_failed=True)
    for snapshot in (SNAP, tested):
        assert Snapshot.from_status(snapshot.to_status()) == snapshot
    assert tested.to_status()["testHooks"] == {"a": {"phase": "Failed"}, "b": {"phase": "Succeeded"}}
    assert "testHooks" not in SNAP.to_status() and not SNAP.tested
    assert [str(Step(Action.UPGRADE, failed=True)), str(Step(Action.CORRECT_DRIFT))] == [
        "upgrade-failed",
        "correct-drift",
    ]


def test_a_snapshot_helm_controller_wrote_reads_back() -> None:
    """A HelmRelease moved from a cluster where helm-controller ran keeps its history."""
    written = {
        "name": "web", "namespace": "apps", "version": 3, "chartName": "web", "chartVersion": "1.2.0",
        "appVersion": "2.0", "configDigest": "sha256:values", "firstDeployed": "2026-01-01T00:00:00Z",
        "lastDeployed": "2026-01-02T00:00:00Z", "status": "deployed", "ociDigest": "sha256:abc",
        "testHooks": {"web-smoke": {"lastStarted": "2026-01-02T00:00:01Z", "phase": "Succeeded"}},
    }  # fmt: skip
    snapshot = Snapshot.from_status(written)
    assert snapshot.action is Action.UPGRADE and snapshot.test_hooks == (("web-smoke", "Succeeded"),)
    assert snapshot.tested and not snapshot.test_failed


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("not a mapping", "must be a mapping"),
        ({"chartName": "web"}, "version is missing"),
        ({**SNAP.to_status(), "version": "3"}, "version must be an integer"),
        ({**SNAP.to_status(), "version": True}, "version must be an integer"),
        ({**SNAP.to_status(), "status": "exploded"}, "'exploded' is not a valid HelmStatus"),
        ({**SNAP.to_status(), "action": "reinstall"}, "'reinstall' is not a valid Action"),
        ({**SNAP.to_status(), "testHooks": {"smoke": {"phase": 3}}}, "testHooks must map hook names"),
        ({**SNAP.to_status(), "testHooks": ["smoke"]}, "testHooks must map hook names"),
    ],
)
def test_a_corrupt_snapshot_says_what_is_wrong(entry: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Snapshot.from_status(entry)


RELEASE = {
    "version": 3,
    "info": {"status": "deployed", "last_deployed": "2026-12-07T15:29:45.245230141Z"},
    "chart": {"metadata": {"name": "web", "version": "1.2.0"}},
}


def test_a_helm_release_as_stored_and_printed() -> None:
    assert HelmRevision.from_release(RELEASE) == HelmRevision(
        3, HelmStatus.DEPLOYED, "web-1.2.0", "2026-12-07T15:29:45.245230141Z"
    )
    assert HelmRevision.from_release_output(json.dumps(RELEASE)) == HelmRevision.from_release(RELEASE)
    assert HelmRevision.from_release_output("") is None
    assert HelmRevision.from_release_output('{"version": 1}') is None


@pytest.mark.parametrize(
    "entry",
    [
        None,
        [],
        {**RELEASE, "version": "x"},
        {**RELEASE, "version": True},
        {**RELEASE, "info": {"status": "odd"}},
        {k: v for k, v in RELEASE.items() if k != "info"},
        {**RELEASE, "chart": {"metadata": {"name": "web"}}},
    ],
)
def test_an_unreadable_helm_release_is_refused(entry: Any) -> None:
    with pytest.raises(ValueError, match="not a helm release"):
        HelmRevision.from_release(entry)


@pytest.mark.parametrize(
    ("reason", "stalled"),
    [
        (Reason.RETRIES_EXCEEDED, True),
        (Reason.MISSING_ROLLBACK_TARGET, True),
        (Reason.RECONCILIATION_FAILED, False),
    ],
)
def test_failures_only_a_change_can_fix_stall_the_release(reason: Reason, stalled: bool) -> None:
    """helm-controller marks RetriesExceeded and MissingRollbackTarget Stalled; other failures retry."""
    status = HelmReleaseStatus("HelmRelease", "web", "apps")
    status.set_ready(False, reason, "why")
    assert status.stalled is stalled
    assert ("Stalled" in [c["type"] for c in status.conditions()]) is stalled
