"""One Flagger tick (``advanceCanary``) as a step function over a :class:`CanaryStatus`.

``tick(canary, status, env)`` returns the next status and what was decided; all I/O goes
through ``env`` (:class:`~airflow_flux_provider.canary.environment.ClusterEnvironment`
in production). The decision order is Flagger's: bootstrap, revision detection,
readiness, start-of-run gate, rollback hooks, promotion/finalisation, the threshold
check (before this tick's checks), the checks (at most one failed check per tick), then
the strategy step. A tick never sleeps; the caller waits ``analysis.interval`` between ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol

from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.canary.metrics import MetricResult
from airflow_flux_provider.canary.routers import Router
from airflow_flux_provider.canary.status import ACTIVE_PHASES, CanaryStatus
from airflow_flux_provider.canary.webhooks import HookOutcome
from airflow_flux_provider.canary.workloads import Readiness
from airflow_flux_provider.specs.flagger import Canary

KUBERNETES_ITERATIONS = 10  # Flagger forces blue/green with 10 iterations on the kubernetes provider


class Environment(Protocol):
    """What a tick reads and changes; implemented over a real cluster by ClusterEnvironment."""

    def bootstrap(self) -> None: ...
    def readiness(self, which: str) -> Readiness: ...
    def target_hash(self) -> str: ...
    def scale_canary_up(self) -> None: ...
    def scale_canary_down(self) -> None: ...
    def promote(self) -> None: ...
    def router(self, status: CanaryStatus) -> Router: ...
    def run_hooks(self, kind: str, phase: str, spec: str) -> HookOutcome: ...
    def rollback_requested(self, phase: str, spec: str) -> str | None: ...
    def check_metrics(self) -> list[MetricResult]: ...
    def event(
        self,
        status: CanaryStatus,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        metrics: dict[str, float] | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class TickResult:
    """The new status, a one-line decision, and the metric values measured on this tick."""

    status: CanaryStatus
    decision: str
    metrics: list[MetricResult] = field(default_factory=list)
    # True when there is nothing left to do for this revision (Succeeded, Failed, or idle).
    finished: bool = False
    # The canary weight the metrics were measured at (the weight before this tick's step).
    measured_weight: int = 0


def _iterations(canary: Canary) -> int:
    analysis = canary.spec.analysis
    wanted = (analysis.iterations or 0) if analysis else 0
    if canary.spec.provider == "kubernetes" and wanted < 1:
        return KUBERNETES_ITERATIONS
    return wanted


def validate(canary: Canary) -> None:
    """Refuse the weight settings with which Flagger's loop never moves (before any traffic moves).

    Flagger accepts them and then stalls for ever at the same weight; everything it makes
    progress with (``stepWeight`` above ``maxWeight``, ``stepWeight`` beside ``stepWeights``
    or ``iterations``) is accepted and run as Flagger runs it.
    """
    analysis = canary.spec.analysis
    if analysis is None or _iterations(canary) or analysis.step_weight:
        return
    if not analysis.step_weights:
        raise CanaryError(
            "the analysis has neither stepWeight, stepWeights nor iterations, so the canary weight "
            "would never move; set one of them",
            obj=canary.ref,
            field="spec.analysis",
        )
    if analysis.step_weights != sorted(set(analysis.step_weights)):
        raise CanaryError(
            f"stepWeights {analysis.step_weights} must be strictly increasing: the canary weight "
            "would stop at the first step that does not increase",
            obj=canary.ref,
            field="spec.analysis.stepWeights",
        )


def _next_step(canary: Canary, weight: int) -> int:
    """Flagger's ``nextStepWeight``: how far the canary weight moves from ``weight`` on this tick."""
    analysis = canary.spec.analysis
    assert analysis is not None
    if analysis.step_weight or not analysis.step_weights:
        return analysis.step_weight or 0
    room = 100 - weight
    if weight == 0:
        return min(room, analysis.step_weights[0])
    for here, after in pairwise(analysis.step_weights):
        if here == weight:
            return min(room, after - weight)
    return room


class _Tick:
    def __init__(self, canary: Canary, status: CanaryStatus, env: Environment) -> None:
        self.canary, self.status, self.env = canary, status, env
        self.analysis = canary.spec.analysis
        self.analysed = self.analysis is not None and not canary.spec.skip_analysis
        self.spec = ""
        self.measured: list[MetricResult] = []
        self.measured_weight = 0

    def done(self, decision: str, *, finished: bool = False) -> TickResult:
        return TickResult(self.status, decision, self.measured, finished, self.measured_weight)

    def say(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.env.event(self.status, reason, message, warning=warning)

    # -- outcomes -------------------------------------------------------------------------------
    def rollback(self, why: str) -> TickResult:
        threshold = self.analysis.threshold if self.analysis else 1
        if self.status.failed_checks >= threshold:
            self.say(
                "Synced",
                f"Rolling back {self.canary.ref} failed checks threshold reached {self.status.failed_checks}",
                warning=True,
            )
        router = self.env.router(self.status)
        router.set_routes(100, 0)
        self.env.scale_canary_down()
        self.status = self.status.synced("Failed", self.spec)
        self.say(
            "Synced", f"Canary failed! Scaling down {self.canary.spec.target_ref.name}: {why}", warning=True
        )
        self.env.run_hooks("post-rollout", "Failed", self.spec)
        return self.done(f"rolled back: {why}", finished=True)

    def fail_check(self, why: str) -> TickResult:
        self.status = self.status.with_counters(failed_checks=self.status.failed_checks + 1)
        self.say("Synced", f"Halt advancement: {why}", warning=True)
        return self.done(f"failed check {self.status.failed_checks}: {why}")

    # -- the tick -------------------------------------------------------------------------------
    def run(self) -> TickResult:
        if self.canary.spec.suspend:
            self.say("Synced", "skipping: the Canary is suspended (spec.suspend: true)")
            return self.done("suspended")
        self.env.bootstrap()
        self.spec = self.env.target_hash()
        phase = self.status.phase
        if phase in ("", "Initializing"):
            return self.initialise()
        self.env.router(self.status).reconcile()
        if phase not in ACTIVE_PHASES and not self.target_changed():
            return self.done(f"no new revision ({phase})", finished=True)
        if self.analysed:
            primary = self.env.readiness("primary")
            if not primary.ready:
                if primary.retriable:
                    return self.done(primary.message)
                if phase in ("Promoting", "Finalising"):
                    return self.failed_promotion(primary.message)
                return self.rollback(primary.message)
        routes = self.env.router(self.status).get_routes()
        if phase not in ("Progressing", "WaitingPromotion", "Promoting", "Finalising"):
            return self.start_run()
        if phase in ("Progressing", "WaitingPromotion") and self.spec != self.status.last_applied_spec:
            self.say("Synced", f"New revision detected! Restarting analysis for {self.canary.ref}")
            self.env.router(self.status).set_routes(100, 0)
            self.status = self.status.synced("Progressing", self.spec)
            return self.done("new revision mid-run: analysis restarted")
        canary = self.env.readiness("canary")
        if not canary.ready:
            if canary.retriable:
                return self.done(canary.message)
            return self.rollback(f"Progress deadline exceeded {canary.message}")
        if not self.analysed:
            return self.skip_analysis()
        if phase in ("Progressing", "WaitingPromotion"):
            hook = self.env.rollback_requested(phase, self.spec)
            if hook:
                self.say("Synced", f"Rolling back {self.canary.ref} manual webhook invoked", warning=True)
                return self.rollback(f"rollback webhook {hook} asked for it")
        if phase == "Promoting":
            return self.promoting(routes)
        if phase == "Finalising":
            return self.finalise()
        assert self.analysis is not None
        if self.status.failed_checks >= self.analysis.threshold:
            return self.rollback(f"failed checks threshold reached {self.status.failed_checks}")
        primary_weight, canary_weight = routes
        if canary_weight == 0 and self.status.iterations == 0:
            self.say("Synced", f"Starting canary analysis for {self.canary.ref}")
            pre = self.env.run_hooks("pre-rollout", "Progressing", self.spec)
            if not pre.passed:
                return self.fail_check(pre.message)
        else:
            rollout = self.env.run_hooks("rollout", "Progressing", self.spec)
            if not rollout.passed:
                return self.fail_check(rollout.message)
            self.measured, self.measured_weight = self.env.check_metrics(), canary_weight
            failed = next((m for m in self.measured if not m.passed), None)
            if failed is not None:
                return self.fail_check(failed.message)
        if _iterations(self.canary):
            return self.blue_green(routes)
        return self.progressive(primary_weight, canary_weight)

    def target_changed(self) -> bool:
        if not self.status.last_applied_spec:
            return True
        if self.spec == self.status.last_promoted_spec:
            return False
        return self.spec != self.status.last_applied_spec

    def initialise(self) -> TickResult:
        if self.analysed:
            primary = self.env.readiness("primary")
            if not primary.ready:
                if primary.retriable:
                    return self.done(f"initialising: {primary.message}")
                raise CanaryError(
                    f"the primary never became ready: {primary.message}; fix the target Deployment",
                    obj=self.canary.ref,
                    field="spec.targetRef",
                )
        self.env.scale_canary_down()
        self.env.router(self.status).reconcile()
        self.status = self.status.synced("Initialized", self.spec)
        self.say("Synced", f"Initialization done! {self.canary.ref}")
        return self.done("initialized: primary serves all traffic", finished=True)

    def start_run(self) -> TickResult:
        gate = self.env.run_hooks("confirm-rollout", self.status.phase, self.spec)
        if not gate.passed:
            if self.status.phase != "Waiting":
                self.status = self.status.with_phase("Waiting")
                self.say(
                    "Synced",
                    f"Halt {self.canary.ref} advancement waiting for approval: {gate.message}",
                    warning=True,
                )
            return self.done(f"waiting for approval: {gate.message}")
        self.say("Synced", f"New revision detected! Scaling up {self.canary.spec.target_ref.name}")
        self.env.scale_canary_up()
        self.status = self.status.synced("Progressing", self.spec)
        return self.done("new revision: canary scaled up, analysis starts next tick")

    def progressive(self, primary_weight: int, canary_weight: int) -> TickResult:
        assert self.analysis is not None
        if self.status.phase == "Progressing":
            gate = self.env.run_hooks("confirm-traffic-increase", "Progressing", self.spec)
            if not gate.passed:
                return self.done(f"weight held at {canary_weight}: {gate.message}")
        if canary_weight < (self.analysis.max_weight or 100):
            step = _next_step(self.canary, canary_weight)
            canary_weight, primary_weight = min(canary_weight + step, 100), max(primary_weight - step, 0)
            self.env.router(self.status).set_routes(primary_weight, canary_weight)
            self.status = self.status.with_counters(canary_weight=canary_weight)
            self.say("Synced", f"Advance {self.canary.ref} canary weight {canary_weight}")
            return self.done(f"weight {canary_weight}")
        return self.confirm_and_promote()

    def blue_green(self, routes: tuple[int, int]) -> TickResult:
        """Blue/green and A/B: count passing iterations; A/B sends matching requests to the canary."""
        wanted = _iterations(self.canary)
        done = self.status.iterations
        assert self.analysis is not None
        ab = self.analysis.strategy == "ab-testing" and self.canary.spec.provider != "kubernetes"
        if done < wanted:
            if ab and routes[1] == 0:
                self.env.router(self.status).set_routes(0, 100)
            self.status = self.status.with_counters(iterations=done + 1)
            self.say("Synced", f"Advance {self.canary.ref} canary iteration {done + 1}/{wanted}")
            return self.done(f"iteration {done + 1}/{wanted}")
        if ab:
            return self.confirm_and_promote()
        if done == wanted:
            gate = self.env.run_hooks("confirm-promotion", "Progressing", self.spec)
            if not gate.passed:
                return self.waiting_promotion(gate)
            if self.canary.spec.provider != "kubernetes":
                self.env.router(self.status).set_routes(0, 100)
            self.status = self.status.with_counters(iterations=done + 1)
            return self.done("all traffic on the canary before promotion")
        return self.promote_now()

    def waiting_promotion(self, gate: HookOutcome) -> TickResult:
        first = self.status.phase != "WaitingPromotion"
        self.status = self.status.with_phase("WaitingPromotion", analysis_iterations=_iterations(self.canary))
        if first:
            self.say(
                "Synced",
                f"Halt {self.canary.ref} advancement waiting for promotion approval: {gate.message}",
                warning=True,
            )
        return self.done(f"waiting for promotion approval: {gate.message}")

    def confirm_and_promote(self) -> TickResult:
        gate = self.env.run_hooks("confirm-promotion", "Progressing", self.spec)
        if not gate.passed:
            return self.waiting_promotion(gate)
        return self.promote_now()

    def promote_now(self) -> TickResult:
        target = self.canary.spec.target_ref.name
        self.say(
            "Synced",
            f"Copying {target} template spec to {target}-primary",
        )
        self.env.promote()
        self.status = self.status.with_phase("Promoting")
        return self.done("promoting: primary takes the canary spec")

    def promoting(self, routes: tuple[int, int]) -> TickResult:
        step = (self.analysis.step_weight_promotion or 0) if self.analysis else 0
        primary_weight, canary_weight = routes
        if self.canary.spec.provider != "kubernetes":
            if step and primary_weight + step < 100:
                self.env.router(self.status).set_routes(primary_weight + step, max(canary_weight - step, 0))
                self.status = self.status.with_counters(canary_weight=max(canary_weight - step, 0))
                return self.done(f"promotion: primary weight {primary_weight + step}")
            self.say("Synced", f"Routing all traffic to primary for {self.canary.ref}")
            self.env.router(self.status).set_routes(100, 0)
        self.status = self.status.with_phase("Finalising")
        return self.done("finalising: all traffic on the primary")

    def finalise(self) -> TickResult:
        self.env.scale_canary_down()
        self.status = self.status.with_phase("Succeeded")
        self.env.run_hooks("post-rollout", "Succeeded", self.spec)
        self.say(
            "Synced", f"Promotion completed! Canary analysis completed successfully for {self.canary.ref}"
        )
        return self.done("succeeded: promotion finished", finished=True)

    def failed_promotion(self, why: str) -> TickResult:
        self.env.router(self.status).set_routes(0, 100)
        self.status = self.status.synced("Failed", self.spec, weight=100)
        self.say("Synced", f"Promotion failed, primary not ready: {why}", warning=True)
        self.env.run_hooks("post-rollout", "Failed", self.spec)
        return self.done(f"promotion failed: {why}; traffic kept on the canary", finished=True)

    def skip_analysis(self) -> TickResult:
        self.env.router(self.status).set_routes(100, 0)
        self.env.promote()
        self.env.scale_canary_down()
        self.status = self.status.with_phase("Succeeded")
        self.env.run_hooks("post-rollout", "Succeeded", self.spec)
        self.say("Synced", f"Canary analysis was skipped, promotion finished for {self.canary.ref}")
        return self.done("skipped analysis: promoted", finished=True)


def tick(canary: Canary, status: CanaryStatus, env: Environment) -> TickResult:
    """Run one Flagger reconcile step; the caller persists ``result.status``.

    Every tick ends with one ``CanaryStep`` event carrying the decision and the metric values.
    """
    result = _Tick(canary, status, env).run()
    measured = {m.name: m.value for m in result.metrics if m.value is not None}
    failed = result.status.phase == "Failed" or result.decision.startswith("failed check")
    if measured:
        measured["measuredAtWeight"] = result.measured_weight
    env.event(result.status, "CanaryStep", result.decision, warning=failed, metrics=measured)
    return result
