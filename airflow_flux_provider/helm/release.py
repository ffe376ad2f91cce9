"""helm-controller's AtomicRelease over the real helm binary.

Each :meth:`ReleaseReconciler.reconcile` reads helm's storage and the HelmRelease status into
an :class:`~airflow_flux_provider.helm.state.Observation`, asks
:func:`~airflow_flux_provider.helm.state.decide` for the next action (install, upgrade, test,
rollback, uninstall, or none) and runs it, until the release is in sync or a terminal error
(retries exhausted) is reached. Failure counters live in the status, so retries span task runs
as they span reconciles in Flux. Every action emits a Flux-style event; the final state is
what plain ``helm history`` shows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import yaml

from airflow_flux_provider import events
from airflow_flux_provider.helm.chart import Chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.drift import correct_drift, detect_drift, release_objects
from airflow_flux_provider.helm.errors import (
    DriftCorrectionError,
    HelmCommandError,
    HelmError,
    MissingRollbackTargetError,
    Reason,
    ReleaseError,
    RetriesExceededError,
)
from airflow_flux_provider.helm.naming import release_name, storage_namespace, target_namespace
from airflow_flux_provider.helm.postrender import PostRenderer, install_post_renderer, post_renderers_digest
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
    Step,
    action_spec,
    decide,
    ignores_test_failures,
)
from airflow_flux_provider.helm.status import FORCE_AT, KIND, RESET_AT, load_status
from airflow_flux_provider.helm.storage import release_history, stored_release
from airflow_flux_provider.helm.values import ComposedValues
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.record import forget_record, save_record
from airflow_flux_provider.specs import HelmRelease
from airflow_flux_provider.specs.helmrelease import Install, Upgrade
from airflow_flux_provider.tools import kubectl_path

_MAX_ACTIONS = 24
_IN_SYNC = Reason.RECONCILIATION_SUCCEEDED
_SUCCEEDED = {Step(Action.INSTALL): Reason.INSTALL_SUCCEEDED, Step(Action.UPGRADE): Reason.UPGRADE_SUCCEEDED}


@dataclass
class ReleaseOutcome:
    """What a reconcile did and where the release stands (the operator's XCom)."""

    ready: bool
    reason: Reason
    message: str
    release_name: str
    namespace: str
    revision: int = 0
    chart_name: str = ""
    chart_version: str = ""
    config_digest: str = ""
    steps: list[Step] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    #: set when ``wait=False`` left a new revision for the caller to health-check
    awaiting_health: list[list[str]] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def actions(self) -> list[str]:
        """The steps as Flux's words: ``install``, ``upgrade-failed``, ``rollback``, ``correct-drift``."""
        return [str(step) for step in self.steps]

    def count(self, action: Action) -> int:
        """How often ``action`` was attempted (succeeded or failed)."""
        return sum(1 for step in self.steps if step.action == action)

    def to_xcom(self) -> dict[str, Any]:
        return {
            "ready": self.ready, "reason": self.reason.value, "message": self.message,
            "release": f"{self.namespace}/{self.release_name}", "revision": self.revision,
            "chart": f"{self.chart_name}@{self.chart_version}", "config_digest": self.config_digest,
            "actions": self.actions, "drifted": self.drifted, "duration_seconds": self.duration_seconds,
            "awaiting_health": self.awaiting_health,
        }  # fmt: skip


def _seconds(value: timedelta | None, default: timedelta) -> float:
    return (value or default).total_seconds()


def _go_duration(seconds: float) -> str:
    return f"{int(seconds)}s"


class ReleaseReconciler:
    """Drive one HelmRelease to its desired state with ``cli`` (helm) and ``cluster`` (status, CRDs)."""

    def __init__(
        self,
        hr: HelmRelease,
        chart: Chart,
        values: ComposedValues,
        cli: HelmCli,
        cluster: Cluster,
        *,
        force: bool = False,
        reset: bool = False,
        wait: bool = True,
        emit: Callable[[events.Event], None] = events.emit,
        records: Cluster | None = None,
    ) -> None:
        self.hr, self.chart, self.values, self.cli, self.cluster = hr, chart, values, cli, cluster
        self.records = records or cluster  # reads and writes the HelmRelease's status (not impersonated)
        self.wait, self._emit = wait, emit
        self._released = False
        self.name = release_name(hr)
        self.namespace = target_namespace(hr)
        self.storage = storage_namespace(hr)
        self.obj = hr.ref
        self.release = f"{self.storage}/{self.name}"
        self.pr_digest = post_renderers_digest(hr)
        cli.add_secrets(values.secrets)
        self.status = load_status(
            self.records, hr.metadata.name, hr.metadata.namespace, manifest=hr.to_manifest()
        )
        # 'flux reconcile hr --force/--reset' on the object, as helm-controller honours them
        self.force = self.status.handle_request(FORCE_AT) or force
        self.reset = self.status.handle_request(RESET_AT) or reset
        self.steps: list[Step] = []
        self.last_error = ""
        self._history_cache: list[HelmRevision] | None = None
        self._head: HelmRevision | None = None  # the revision an install or upgrade just wrote
        self._renderer: PostRenderer | None = None
        self.drifted: list[str] = []
        self.desired = Desired(chart.name, chart.version, values.digest, self.pr_digest)

    # -- helm state ------------------------------------------------------------------------------
    def _mutate(self, args: list[str], operands: list[str], timeout: float, action: str) -> str:
        """Run a helm action that writes a revision; what helm knew of the release is stale afterwards,
        pass or fail. Its stdout is returned."""
        try:
            return self.cli.run(args, operands=operands, timeout=timeout, obj=self.obj, action=action)
        finally:
            self._history_cache = None
            self._head = None

    def _latest(self) -> HelmRevision | None:
        """The newest revision: as the last install or upgrade printed it, else from helm's storage."""
        if self._head is not None:
            return self._head
        history = self._history()
        return history[-1] if history else None

    def _stored(self, revision: int) -> dict[str, Any]:
        """One revision as helm stored it: its manifest, how it was applied (``apply_method``)."""
        release: dict[str, Any] = stored_release(
            self.cluster, self.name, self.storage, revision, obj=self.obj
        )
        return release

    def _history(self) -> list[HelmRevision]:
        """Helm's stored revisions, read again only after an action that writes one (:meth:`_mutate`)."""
        if self._history_cache is None:
            self._history_cache = release_history(self.cluster, self.name, self.storage, obj=self.obj)
        return self._history_cache

    def _observe(self, *, forced: bool) -> Observation:
        """Helm's latest revision, our snapshot of it and the failure counters."""
        latest = self._latest()
        attempted = self.status.last_attempted_release_action
        return Observation(
            latest,
            self.status.snapshot(latest.revision) if latest else None,
            Failures(self.status.install_failures, self.status.upgrade_failures),
            Action(attempted) if attempted in (Action.INSTALL, Action.UPGRADE) else None,
            forced,
        )

    # -- the loop --------------------------------------------------------------------------------
    def reconcile(self) -> ReleaseOutcome:
        started = time.monotonic()
        self._reset_counters()
        error: HelmError | None = None
        try:
            self._loop()
        except HelmError as err:
            error = err
        latest = self._safe_latest()
        outcome = self._outcome(latest, error, time.monotonic() - started)
        self.status.set_ready(outcome.ready, outcome.reason, outcome.message)
        if outcome.ready:
            self.status.last_applied_revision = self.chart.version
            self.status.observed_post_renderers_digest = self.pr_digest
        if outcome.awaiting_health:  # neither ready nor failed until the caller's health check ends
            self.status.ready = "Unknown"
        save_record(self.records, self.status)
        return outcome

    def _loop(self) -> None:
        forced = self.force
        for _ in range(_MAX_ACTIONS):
            if self._released and not self.wait:
                return  # the caller waits for health (deferral), then reconciles again
            seen = self._observe(forced=forced)
            decision = decide(self.hr, seen, self.desired)
            forced = forced and not decision.spends_force
            if decision.next is Next.NOTHING:
                self._check_drift(seen.latest)
                return
            if decision.next is Next.GIVE_UP:
                assert decision.exhausted is not None
                raise self._exceeded(decision.exhausted)
            self._act(decision, seen.latest)
            if decision.exhausted is not None:
                raise self._exceeded(decision.exhausted)  # remediated the last failure; no retry is left
        raise ReleaseError(
            f"release {self.release} did not settle after {_MAX_ACTIONS} actions; it will be "
            "retried on the next run",
            obj=self.obj,
        )

    def _act(self, decision: Decision, latest: HelmRevision | None) -> None:
        if decision.unlock:
            assert latest is not None
            self._event(
                "info",
                "Unlocked",
                f"Unlocked Helm release {self.release}.v{latest.revision} in {latest.status} state",
            )
        match decision.next:
            case Next.INSTALL:
                self._install(reuse_name=latest is not None)
            case Next.UPGRADE:
                assert latest is not None  # decided for a release helm holds a revision of
                self._upgrade(latest)
            case Next.TEST:
                assert latest is not None
                self._test(latest)
            case Next.ROLLBACK:
                assert latest is not None
                self._rollback(latest)
            case Next.UNINSTALL:
                self._uninstall(remediation=decision.remediation, latest=latest)

    def _reset_counters(self) -> None:
        """Failures count again from zero when the values or the chart version differ from the
        last attempt, or on a reset request, as helm-controller counts them."""
        digest, revision = self.status.last_attempted_config_digest, self.status.last_attempted_revision
        if (
            (digest and digest != self.values.digest)
            or (revision and revision != self.chart.version)
            or self.reset
        ):
            self.status.reset_failures()
        self.status.last_attempted_config_digest = self.values.digest
        self.status.last_attempted_revision = self.chart.version
        self._move_release()
        self.status.release_name, self.status.storage_namespace = self.name, self.storage

    def _move_release(self) -> None:
        """A changed release name or storage namespace: uninstall the old release first (as Flux)."""
        old = (self.status.release_name, self.status.storage_namespace)
        if not all(old) or old == (self.name, self.storage):
            return
        args = ["uninstall", f"--namespace={old[1]}", "--ignore-not-found"]
        self._mutate(args, [old[0]], self._timeout(self.hr.spec.uninstall), "Helm uninstall")
        self.status.history = []
        self.steps.append(Step(Action.UNINSTALL))
        self._event("info", "UninstallSucceeded", f"Helm uninstall for release {old[1]}/{old[0]} succeeded")

    def _exceeded(self, action: Action) -> RetriesExceededError:
        retries = action_spec(self.hr, action).remediation.retries
        field = "install" if action is Action.INSTALL else "upgrade"
        return RetriesExceededError(
            f"cannot {action} release {self.release}: exceeded maximum retries ({retries}); fix the "
            f"chart or values (which resets the count) or raise spec.{field}.remediation.retries",
            obj=self.obj,
        )

    # -- actions ---------------------------------------------------------------------------------
    def _event(self, severity: events.Severity, reason: str, message: str) -> None:
        metadata = {"revision": self.chart.version}
        if self.chart.app_version:
            metadata["app-version"] = self.chart.app_version
        self._emit(
            events.Event(
                involved_object=events.ObjectReference(
                    KIND, self.hr.metadata.name, self.hr.metadata.namespace, self.hr.api_version
                ),
                severity=severity,
                reason=reason,
                message=self.cli.scrub(message),
                metadata=metadata,
            )
        )

    def _wait_flags(self, action: Any) -> list[str]:
        strategy = self.hr.spec.wait_strategy.name if self.hr.spec.wait_strategy else "poller"
        if action.disable_wait or not self.wait:
            return ["--wait=hookOnly"] if self.cli.major_version >= 4 else []
        flags = (
            ["--wait=watcher" if strategy == "poller" else "--wait=legacy"]
            if self.cli.major_version >= 4
            else ["--wait"]
        )
        if not action.disable_wait_for_jobs:
            flags.append("--wait-for-jobs")
        return flags

    def _render_flags(self) -> list[str]:
        work = self.cli.work_dir
        values_file = work / "values.yaml"
        values_file.touch(mode=0o600)
        values_file.write_text(yaml.safe_dump(self.values.values))
        self._renderer = install_post_renderer(
            self.hr,
            self.cli,
            kubectl=kubectl_path(),
            namespace=self.namespace if self.namespace != self.storage else None,
        )
        return ["--values", str(values_file), *self._renderer.flags]

    def _chart_flags(self, action: Any) -> list[str]:
        flags = []
        if action.disable_hooks:
            flags.append("--no-hooks")
        if action.disable_open_api_validation:
            flags.append("--disable-openapi-validation")
        if action.disable_schema_validation:
            flags.append("--skip-schema-validation")
        if not action.disable_take_ownership and self.cli.major_version >= 4:
            flags.append("--take-ownership")
        return flags

    def _timeout(self, action: Any) -> float:
        return _seconds(action.timeout, self.hr.spec.timeout)

    def _chart_action_args(self, action: str, spec: Install | Upgrade) -> tuple[list[str], float]:
        """Helm arguments install and upgrade share (chart, values, post-render, wait), and the timeout."""
        timeout = self._timeout(spec)
        args = [action, *self.chart.install_flags(), f"--namespace={self.storage}"]
        args += ["--timeout", _go_duration(timeout)]
        args += self._render_flags() + self._wait_flags(spec) + self._chart_flags(spec)
        return args, timeout

    def _install(self, *, reuse_name: bool) -> None:
        spec = self.hr.spec.install
        args, timeout = self._chart_action_args("install", spec)
        if spec.create_namespace:
            self._create_namespace(args)
        if spec.crds == "Skip":
            args.append("--skip-crds")
        if reuse_name or spec.replace:
            args.append("--replace")
        if self.cli.major_version >= 4:
            args += self._apply_flags(spec.server_side_apply is not False, force=False)
        self._release_action(Action.INSTALL, args, timeout)

    def _create_namespace(self, args: list[str]) -> None:
        if self.namespace == self.storage:
            args.append("--create-namespace")
            return
        self.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})

    def _upgrade(self, latest: HelmRevision) -> None:
        spec = self.hr.spec.upgrade
        args, timeout = self._chart_action_args("upgrade", spec)
        args += ["--history-max", str(self.hr.spec.max_history)]
        args.append("--reuse-values" if spec.preserve_values else "--reset-values")
        if spec.cleanup_on_fail:
            args.append("--cleanup-on-fail")
        args += self._server_side_flags(spec.server_side_apply, latest.revision, force=spec.force)
        self._apply_crds(spec.crds)
        self._release_action(Action.UPGRADE, args, timeout)

    def _server_side_flags(self, setting: str | None, revision: int, *, force: bool) -> list[str]:
        """Upgrade and rollback: ``auto`` (the default) applies as helm applied ``revision``."""
        if self.cli.major_version < 4:
            return ["--force"] if force else []
        if setting in ("enabled", "disabled"):
            server_side = setting == "enabled"
        else:
            server_side = bool(revision) and self._stored(revision).get("apply_method") == "ssa"
        return self._apply_flags(server_side, force=force)

    @staticmethod
    def _apply_flags(server_side: bool, *, force: bool) -> list[str]:
        """As helm-controller: a server-side apply always forces conflicts, so the release takes its
        fields back from whoever changed them (``kubectl edit``, ``kubectl scale``); ``force``
        (replace the objects) only applies client-side."""
        if server_side:
            return ["--server-side=true", "--force-conflicts"]
        return ["--server-side=false", *(["--force-replace"] if force else [])]

    def _apply_crds(self, policy: str) -> None:
        """Helm never upgrades ``crds/``; Flux's ``Create``/``CreateReplace`` does it for us here."""
        if policy == "Skip":
            return
        for name, text in sorted(self.chart.files.items()):
            if not name.startswith("crds/"):
                continue
            for crd in (d for d in yaml.safe_load_all(text) if isinstance(d, dict)):
                if policy == "Create" and self.cluster.get(ObjectKey.of(crd)) is not None:
                    continue
                self.cluster.apply(crd, force=True)

    def _release_action(self, action: Action, args: list[str], timeout: float) -> None:
        self.status.last_attempted_release_action = action.value
        title = action.capitalize()
        assert self._renderer is not None  # set with the install or upgrade flags
        try:
            with self._renderer:  # served to helm while it runs
                out = self._mutate(
                    [*args, "--output=json"], [self.name, self.chart.location], timeout, f"Helm {action}"
                )
        except HelmCommandError as err:
            self._count_failure(action)
            rendered = self._renderer.error()
            message = f"{err.message}: {rendered}" if rendered else err.message  # helm 4 drops it
            self.last_error = message
            latest = self._safe_latest()
            if latest is not None and latest.status is not HelmStatus.UNINSTALLED:
                self.status.remember(self._snapshot(latest, action))
            self.steps.append(Step(action, failed=True))
            self._event(
                "error", f"{title}Failed",
                f"Helm {action} failed for release {self.release} with chart "
                f"{self.chart.name}@{self.chart.version}: {message.split(': ', 1)[-1]}",
            )  # fmt: skip
            return
        self._head = HelmRevision.from_release_output(out)
        latest = self._latest()
        assert latest is not None
        self.status.remember(self._snapshot(latest, action))
        self.steps.append(Step(action))
        self._released = True
        self._event(
            "info", f"{title}Succeeded",
            f"Helm {action} succeeded for release {self.release}.v{latest.revision} with chart "
            f"{self.chart.name}@{self.chart.version}",
        )  # fmt: skip

    def _count_failure(self, action: Action) -> None:
        self.status.failures += 1
        if action is Action.INSTALL:
            self.status.install_failures += 1
        else:
            self.status.upgrade_failures += 1

    def _snapshot(self, latest: HelmRevision, action: Action) -> Snapshot:
        return Snapshot(
            version=latest.revision, name=self.name, namespace=self.storage,
            chart_name=self.chart.name, chart_version=self.chart.version,
            config_digest=self.values.digest, post_renderers_digest=self.pr_digest,
            status=latest.status, action=action, app_version=self.chart.app_version,
            last_deployed=latest.updated,
        )  # fmt: skip

    def _test(self, latest: HelmRevision) -> None:
        test = self.hr.spec.test
        timeout = _seconds(test.timeout, self.hr.spec.timeout)
        args = ["test", f"--namespace={self.storage}", "--timeout", _go_duration(timeout)]
        for item in test.filters:
            args.append(f"--filter={'!' if item.exclude else ''}name={item.name}")
        snap = self.status.snapshot(latest.revision) or self._snapshot(latest, Action.UPGRADE)
        chart = f"{self.chart.name}@{self.chart.version}"
        where = f"release {self.release}.v{latest.revision} with chart {chart}"
        try:
            out = self.cli.run(args, operands=[self.name], timeout=timeout, obj=self.obj, action="Helm test")
        except HelmCommandError as err:
            self.last_error = err.message
            self.status.remember(snap.tested_with({}, failed=True))
            self.steps.append(Step(Action.TEST, failed=True))
            if not ignores_test_failures(self.hr, snap.action):
                self._count_failure(snap.action)
            self._event(
                "error", "TestFailed", f"Helm test failed for {where}: {err.message.split(': ', 1)[-1]}"
            )
            return
        hooks = _test_hooks(out)
        self.status.remember(snap.tested_with(hooks, failed=False))
        self.steps.append(Step(Action.TEST))
        self._event(
            "info",
            "TestSucceeded",
            f"Helm test succeeded for {where}: {len(hooks)} test hooks completed successfully",
        )

    def _rollback(self, latest: HelmRevision) -> None:
        spec = self.hr.spec.rollback
        earlier = (h for h in reversed(self._history()) if h.revision < latest.revision and h.status.good)
        target = next(earlier, None)
        if target is None:
            raise MissingRollbackTargetError(
                f"cannot roll back release {self.release}: missing rollback target (no earlier "
                "successful revision); set spec.upgrade.remediation.strategy: uninstall or fix the release",
                obj=self.obj,
            )
        timeout = self._timeout(spec)
        args = ["rollback", f"--namespace={self.storage}"]
        args += ["--timeout", _go_duration(timeout), "--history-max", str(self.hr.spec.max_history)]
        args += self._wait_flags(spec)
        if spec.disable_hooks:
            args.append("--no-hooks")
        if spec.cleanup_on_fail:
            args.append("--cleanup-on-fail")
        args += self._server_side_flags(spec.server_side_apply, target.revision, force=spec.force)
        where = (
            f"Helm rollback to previous release {self.release}.v{target.revision} with chart {target.chart}"
        )
        try:
            self._mutate(args, [self.name, str(target.revision)], timeout, "Helm rollback")
        except HelmCommandError as err:
            self.steps.append(Step(Action.ROLLBACK, failed=True))
            self._event("error", "RollbackFailed", f"{where} failed: {err.message.split(': ', 1)[-1]}")
            raise ReleaseError(f"{where} failed: {err.message}", obj=self.obj) from None
        new = self._latest()
        assert new is not None
        restored = self.status.snapshot(target.revision) or self._snapshot(target, Action.UPGRADE)
        self.status.remember(
            replace(restored, version=new.revision, status=new.status, action=Action.ROLLBACK,
                    test_hooks=None, test_failed=False, health_failed=False)
        )  # fmt: skip
        self.steps.append(Step(Action.ROLLBACK))
        self._event("info", "RollbackSucceeded", f"{where} succeeded")

    def _uninstall(self, *, remediation: bool, latest: HelmRevision | None = None) -> None:
        spec = self.hr.spec.uninstall
        timeout = self._timeout(spec)
        args = ["uninstall", f"--namespace={self.storage}", "--timeout", _go_duration(timeout)]
        args += ["--cascade", spec.deletion_propagation]
        if spec.keep_history:
            args.append("--keep-history")
        if spec.disable_hooks:
            args.append("--no-hooks")
        if not spec.disable_wait and self.cli.major_version >= 4:
            args.append("--wait=watcher")
        elif not spec.disable_wait:
            args.append("--wait")
        label = "uninstall remediation" if remediation else "uninstall"
        where = f"Helm {label} for release {self.release}" + (f".v{latest.revision}" if latest else "")
        try:
            self._mutate(args, [self.name], timeout, "Helm uninstall")
        except HelmCommandError as err:
            self.steps.append(Step(Action.UNINSTALL, failed=True))
            self._event("error", "UninstallFailed", f"{where} failed: {err.message.split(': ', 1)[-1]}")
            raise ReleaseError(f"{where} failed: {err.message}", obj=self.obj) from None
        self.steps.append(Step(Action.UNINSTALL))
        self._event("info", "UninstallSucceeded", f"{where} succeeded")

    def mark_unhealthy(self, message: str) -> None:
        """The caller's health wait failed: the latest revision counts as a failed release action."""
        latest = self._latest()
        snap = self.status.snapshot(latest.revision) if latest else None
        if snap is None:
            return
        self.status.remember(replace(snap, health_failed=True))
        self._count_failure(snap.action)
        self.last_error = message
        self.steps.append(Step(snap.action, failed=True))
        self._event(
            "error",
            f"{snap.action.capitalize()}Failed",
            f"Helm {snap.action} failed for release {self.release} with chart "
            f"{self.chart.name}@{self.chart.version}: {message}",
        )
        save_record(self.records, self.status)

    def _release_objects(self) -> list[dict[str, Any]]:
        latest = self._latest()
        manifest = self._stored(latest.revision).get("manifest", "") if latest else ""
        return release_objects(manifest, self.cluster, release=self.name, namespace=self.storage)

    def _check_drift(self, latest: HelmRevision | None) -> None:
        """helm-controller's drift step: report (``warn``) or also correct (``enabled``) the drift."""
        detection = self.hr.spec.drift_detection
        if detection is None or detection.mode == "disabled" or latest is None:
            return
        report = detect_drift(self.cluster, self._release_objects(), detection.ignore, obj=self.obj)
        if report.errors and not report.drifted:
            raise ReleaseError("unable to determine cluster state: " + "; ".join(report.errors), obj=self.obj)
        self.drifted = [str(d) for d in report.drifted]
        if not report.drifted:
            return
        summary = "\n".join(self.drifted)
        self._event(
            "error",
            "DriftDetected",
            f"Cluster state of release {self.release}.v{latest.revision} has drifted from the desired "
            f"state:\n{summary}",
        )
        if detection.mode != "enabled":
            return
        failures = correct_drift(self.cluster, report.drifted)
        if failures:
            self.steps.append(Step(Action.CORRECT_DRIFT, failed=True))
            message = f"Failed to correct cluster state of release {self.release}:\n" + "\n".join(failures)
            self._event("error", "DriftCorrectionFailed", message)
            raise DriftCorrectionError(message, obj=self.obj)
        self.steps.append(Step(Action.CORRECT_DRIFT))
        self._event(
            "info",
            "DriftCorrected",
            f"Cluster state of release {self.release} has been corrected:\n{summary}",
        )

    # -- results ---------------------------------------------------------------------------------
    def _safe_latest(self) -> HelmRevision | None:
        try:
            return self._latest()
        except HelmError:
            return None

    def _outcome(
        self, latest: HelmRevision | None, error: HelmError | None, duration: float
    ) -> ReleaseOutcome:
        revision = latest.revision if latest else 0
        outcome = ReleaseOutcome(
            ready=False, reason=Reason.PROGRESSING, message="", release_name=self.name,
            namespace=self.storage,
            revision=revision, chart_name=self.chart.name, chart_version=self.chart.version,
            config_digest=self.values.digest, steps=list(self.steps), drifted=list(self.drifted),
            duration_seconds=round(duration, 3),
        )  # fmt: skip
        if error is not None:
            outcome.reason = error.reason
            outcome.message = self.cli.scrub(str(error))
            if self.last_error:
                outcome.message += f"; last failure: {self.cli.scrub(self.last_error)}"
            return outcome
        if self._released and not self.wait and latest is not None:
            keys = [ObjectKey.of(o) for o in self._release_objects()]
            outcome.awaiting_health = [[k.api_version, k.kind, k.namespace, k.name] for k in keys]
            outcome.message = f"waiting for {len(keys)} objects of {self.release}"
            return outcome
        outcome.ready = True
        outcome.reason = _SUCCEEDED.get(self.steps[-1], _IN_SYNC) if self.steps else _IN_SYNC
        chart = f"{self.chart.name}@{self.chart.version}"
        outcome.message = f"Helm release {self.release}.v{revision} is in sync with chart {chart}"
        return outcome


def _test_hooks(out: str) -> dict[str, str]:
    """``{hook name: phase}`` from ``helm test`` output."""
    hooks: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        if match := re.match(r"^TEST SUITE:\s+(\S+)", line):
            current = match[1]
        elif (match := re.match(r"^Phase:\s+(\S+)", line)) and current:
            hooks[current] = match[1]
    return hooks


def uninstall_release(
    hr: HelmRelease,
    cli: HelmCli,
    cluster: Cluster,
    *,
    emit: Callable[[events.Event], None] = events.emit,
    records: Cluster | None = None,
) -> bool:
    """Remove the release when the HelmRelease leaves the desired state; False if there was none."""
    reconciler = ReleaseReconciler(
        hr, Chart("", "", ""), ComposedValues({}), cli, cluster, emit=emit, records=records
    )
    latest = reconciler._safe_latest()
    if latest is None or latest.status is HelmStatus.UNINSTALLED:
        found = False
    else:
        reconciler._uninstall(remediation=False, latest=latest)
        found = True
    forget_record(reconciler.records, reconciler.status)
    return found
