"""Flagger's decisions, tick by tick: phases, routes, hooks, and the events and reasons alerts rely on.

``tick`` is a step function whose I/O all goes through its ``Environment``; here that is
:class:`Rollout`, an in-memory one the test sets up (readiness, hook and metric outcomes)
and reads back (routes, scaling, promotions, events). The cluster implementation of the same
protocol runs against the sandbox in ``test_analysis.py`` and ``test_gates_and_faults.py``;
these tests pin the decision order itself, which is too slow to walk case by case there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from airflow_flux_provider.canary.analysis import TickResult, tick, validate
from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.canary.metrics import MetricResult
from airflow_flux_provider.canary.status import CanaryStatus
from airflow_flux_provider.canary.webhooks import HookOutcome
from airflow_flux_provider.canary.workloads import Readiness
from airflow_flux_provider.specs.flagger import Canary, CanaryWebhook
from airflow_flux_provider.specs.manifests import load_manifests

REF = "Canary/apps/web"


def canary(analysis: str = "{stepWeight: 20, maxWeight: 40, threshold: 2}", extra: str = "") -> Canary:
    (obj,) = load_manifests(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: apps}\n"
        "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
        f"  service: {{port: 80}}\n  analysis: {analysis}\n{extra}"
    )
    assert isinstance(obj, Canary)
    return obj


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool


def closed(message: str) -> HookOutcome:
    return HookOutcome(CanaryWebhook(name="gate", url="http://gate.test/"), message)


@dataclass
class Rollout:
    """An in-memory Environment: readiness and hook/metric outcomes in, routes, calls and events out."""

    spec: str = "rev-1"
    primary: Readiness = field(default_factory=lambda: Readiness(True))
    canary: Readiness = field(default_factory=lambda: Readiness(True))
    routes: tuple[int, int] = (100, 0)
    hooks: dict[str, HookOutcome] = field(default_factory=dict)
    rollback: str | None = None
    metrics: list[MetricResult] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)

    def bootstrap(self) -> None:
        self.calls.append("bootstrap")

    def readiness(self, which: str) -> Readiness:
        return {"primary": self.primary, "canary": self.canary}[which]

    def target_hash(self) -> str:
        return self.spec

    def scale_canary_up(self) -> None:
        self.calls.append("scale up")

    def scale_canary_down(self) -> None:
        self.calls.append("scale down")

    def promote(self) -> None:
        self.calls.append("promote")

    def router(self, status: CanaryStatus) -> Rollout:
        return self

    def reconcile(self) -> None:
        self.calls.append("reconcile routes")

    def set_routes(self, primary: int, canary: int) -> None:
        self.routes = (primary, canary)
        self.calls.append(f"routes {primary}/{canary}")

    def get_routes(self) -> tuple[int, int]:
        return self.routes

    def run_hooks(self, kind: str, phase: str, spec: str) -> HookOutcome:
        self.calls.append(f"{kind} hooks ({phase})")
        return self.hooks.get(kind, HookOutcome(None))

    def rollback_requested(self, phase: str, spec: str) -> str | None:
        return self.rollback

    def check_metrics(self) -> list[MetricResult]:
        return self.metrics

    def event(
        self,
        status: CanaryStatus,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        metrics: dict[str, float] | None = None,
    ) -> None:
        self.events.append(Event(reason, message, warning))
        if reason == "CanaryStep":
            self.steps.append(metrics or {})

    def said(self) -> list[str]:
        """The Synced events' messages (warnings marked), then forgotten."""
        out = [("! " if e.warning else "") + e.message for e in self.events if e.reason == "Synced"]
        self.events.clear()
        return out


class Run:
    """Ticks one Canary forward, keeping its status as the operator persists it."""

    def __init__(self, obj: Canary, env: Rollout, status: CanaryStatus | None = None) -> None:
        self.obj, self.env = obj, env
        self.status = status or CanaryStatus().synced("Initialized", "rev-0")

    def tick(self) -> TickResult:
        result = tick(self.obj, self.status, self.env)
        self.status = result.status
        return result

    def decisions(self, count: int) -> list[str]:
        return [self.tick().decision for _ in range(count)]


def test_weighted_run_from_new_revision_to_success() -> None:
    env = Rollout()
    run = Run(canary(), env)
    first = run.tick()
    assert (first.decision, run.status.phase, env.said()) == (
        "new revision: canary scaled up, analysis starts next tick",
        "Progressing",
        ["New revision detected! Scaling up web"],
    )
    assert env.calls == [
        "bootstrap",
        "reconcile routes",
        "confirm-rollout hooks (Initialized)",
        "scale up",
    ]
    assert not first.finished
    env.calls.clear()
    env.metrics = [MetricResult("error-rate", 0.1, True, "ok")]
    started, advanced = run.tick(), run.tick()
    assert (started.decision, started.measured_weight, started.metrics) == ("weight 20", 0, [])
    assert (advanced.decision, advanced.measured_weight) == ("weight 40", 20)
    assert env.calls == [
        "bootstrap",
        "reconcile routes",
        "pre-rollout hooks (Progressing)",
        "confirm-traffic-increase hooks (Progressing)",
        "routes 80/20",
        "bootstrap",
        "reconcile routes",
        "rollout hooks (Progressing)",
        "confirm-traffic-increase hooks (Progressing)",
        "routes 60/40",
    ]
    env.calls.clear()
    assert env.routes == (60, 40) and run.status.canary_weight == 40
    assert env.said() == [
        f"Starting canary analysis for {REF}",
        f"Advance {REF} canary weight 20",
        f"Advance {REF} canary weight 40",
    ]
    assert [r.decision for r in (run.tick(), run.tick())] == [
        "promoting: primary takes the canary spec",
        "finalising: all traffic on the primary",
    ]
    succeeded = run.tick()
    assert (succeeded.decision, succeeded.finished) == ("succeeded: promotion finished", True)
    assert "promote" in env.calls
    assert env.routes == (100, 0)
    assert env.said() == [
        "Copying web template spec to web-primary",
        f"Routing all traffic to primary for {REF}",
        f"Promotion completed! Canary analysis completed successfully for {REF}",
    ]
    assert (run.status.phase, run.status.last_promoted_spec) == ("Succeeded", "rev-1")
    assert env.calls[-2:] == ["scale down", "post-rollout hooks (Succeeded)"]
    idle = run.tick()
    assert (idle.decision, idle.finished) == ("no new revision (Succeeded)", True)


def test_every_tick_ends_with_one_canary_step_event_carrying_the_metrics() -> None:
    env = Rollout(
        metrics=[MetricResult("error-rate", 0.5, True, "ok"), MetricResult("latency", None, True, "")]
    )
    run = Run(canary(), env)
    run.decisions(3)
    steps = [e for e in env.events if e.reason == "CanaryStep"]
    assert [(e.message, e.warning) for e in steps] == [
        ("new revision: canary scaled up, analysis starts next tick", False),
        ("weight 20", False),
        ("weight 40", False),
    ]
    assert env.steps == [{}, {}, {"error-rate": 0.5, "measuredAtWeight": 20}]


def test_failed_checks_hold_the_weight_then_roll_back_at_the_threshold() -> None:
    env = Rollout()
    run = Run(canary(), env)
    run.decisions(2)  # scaled up, weight 20
    env.said()
    env.metrics = [MetricResult("error-rate", 9.0, False, "error-rate 9 > 1")]
    assert run.decisions(2) == ["failed check 1: error-rate 9 > 1", "failed check 2: error-rate 9 > 1"]
    assert env.routes == (80, 20)
    assert env.events[-1] == Event("CanaryStep", "failed check 2: error-rate 9 > 1", True)
    rolled = run.tick()
    assert env.events[-1] == Event("CanaryStep", "rolled back: failed checks threshold reached 2", True)
    assert (rolled.decision, rolled.finished) == ("rolled back: failed checks threshold reached 2", True)
    assert env.routes == (100, 0) and run.status.phase == "Failed"
    assert env.said() == [
        "! Halt advancement: error-rate 9 > 1",
        "! Halt advancement: error-rate 9 > 1",
        f"! Rolling back {REF} failed checks threshold reached 2",
        "! Canary failed! Scaling down web: failed checks threshold reached 2",
    ]
    assert env.calls[-2:] == ["scale down", "post-rollout hooks (Failed)"]
    assert run.tick().decision == "no new revision (Failed)"


@pytest.mark.parametrize(
    ("hook", "decision"),
    [("pre-rollout", "failed check 1: pre down"), ("rollout", "failed check 1: rollout down")],
)
def test_failing_rollout_hooks_count_as_failed_checks(hook: str, decision: str) -> None:
    env = Rollout(hooks={hook: closed(hook.split("-")[0] + " down")})
    run = Run(canary(), env)
    run.tick()
    if hook == "rollout":
        env.hooks = {}
        assert run.tick().decision == "weight 20"
        env.hooks = {hook: closed("rollout down")}
    assert run.tick().decision == decision
    assert run.status.failed_checks == 1


def test_confirm_rollout_gate_waits_and_says_so_once() -> None:
    env = Rollout(hooks={"confirm-rollout": closed("not approved")})
    run = Run(canary(), env)
    assert run.decisions(2) == ["waiting for approval: not approved"] * 2
    assert run.status.phase == "Waiting"
    assert env.said() == [f"! Halt {REF} advancement waiting for approval: not approved"]
    env.hooks = {}
    assert run.tick().decision == "new revision: canary scaled up, analysis starts next tick"


def test_confirm_traffic_increase_gate_holds_the_weight() -> None:
    env = Rollout()
    run = Run(canary(), env)
    run.decisions(2)
    env.hooks = {"confirm-traffic-increase": closed("hold")}
    assert run.tick().decision == "weight held at 20: hold"
    assert env.routes == (80, 20)


def test_step_weights_move_to_each_listed_weight() -> None:
    env = Rollout()
    run = Run(canary("{stepWeights: [10, 25, 60]}"), env)
    assert run.decisions(5) == [
        "new revision: canary scaled up, analysis starts next tick",
        "weight 10",
        "weight 25",
        "weight 60",
        "promoting: primary takes the canary spec",
    ]


def test_step_weight_past_100_stops_at_100() -> None:
    env = Rollout()
    run = Run(canary("{stepWeight: 70}"), env)
    assert run.decisions(3)[1:] == ["weight 70", "weight 100"]
    assert env.routes == (0, 100)
    assert run.tick().decision == "promoting: primary takes the canary spec"


def test_step_weight_wins_over_step_weights_which_still_set_the_promotion_weight() -> None:
    run = Run(canary("{stepWeight: 20, stepWeights: [10, 50]}"), Rollout())
    assert run.decisions(5)[1:] == [
        "weight 20",
        "weight 40",
        "weight 60",
        "promoting: primary takes the canary spec",
    ]


def test_a_weight_off_the_step_weights_list_moves_to_all_traffic() -> None:
    """A run resumed after stepWeights changed: from a weight not on the list Flagger takes the rest."""
    env = Rollout(routes=(70, 30))
    run = Run(
        canary("{stepWeights: [10, 50]}"), env, CanaryStatus().synced("Progressing", "rev-1", weight=30)
    )
    assert run.tick().decision == "weight 100"
    assert env.routes == (0, 100)


def test_weighted_run_waits_for_promotion_approval() -> None:
    env = Rollout(hooks={"confirm-promotion": closed("release freeze")})
    run = Run(canary(), env)
    assert run.decisions(5)[3:] == ["waiting for promotion approval: release freeze"] * 2
    assert env.calls[-1] == "confirm-promotion hooks (Progressing)"
    assert run.status.phase == "WaitingPromotion"
    env.hooks = {}
    assert run.tick().decision == "promoting: primary takes the canary spec"


def test_step_weight_promotion_moves_traffic_back_in_steps() -> None:
    env = Rollout()
    run = Run(canary("{stepWeight: 20, maxWeight: 40, stepWeightPromotion: 30}"), env)
    run.decisions(4)  # scaled up, 20, 40, promoting
    assert run.tick().decision == "promotion: primary weight 90"
    assert (env.routes, run.status.canary_weight) == ((90, 10), 10)
    assert run.decisions(2) == ["finalising: all traffic on the primary", "succeeded: promotion finished"]
    assert env.routes == (100, 0)


def test_a_promotion_step_reaching_100_routes_everything_at_once() -> None:
    env = Rollout()
    run = Run(canary("{stepWeight: 20, maxWeight: 40, stepWeightPromotion: 40}"), env)
    run.decisions(4)
    assert run.tick().decision == "finalising: all traffic on the primary"
    assert env.routes == (100, 0)


def test_blue_green_counts_iterations_and_waits_for_promotion_approval() -> None:
    """While it waits for approval the last iteration's checks run again on every other tick."""
    env = Rollout(hooks={"confirm-promotion": closed("not yet")})
    run = Run(canary("{iterations: 2}"), env)
    assert run.decisions(6)[1:] == [
        "iteration 1/2",
        "iteration 2/2",
        "waiting for promotion approval: not yet",
        "iteration 2/2",
        "waiting for promotion approval: not yet",
    ]
    assert (run.status.phase, run.status.iterations) == ("WaitingPromotion", 1)
    assert env.routes == (100, 0)  # blue/green keeps traffic on the primary while it counts
    assert env.said() == [
        "New revision detected! Scaling up web",
        f"Starting canary analysis for {REF}",
        f"Advance {REF} canary iteration 1/2",
        f"Advance {REF} canary iteration 2/2",
        f"! Halt {REF} advancement waiting for promotion approval: not yet",
        f"Advance {REF} canary iteration 2/2",
    ]
    env.hooks = {}
    assert run.decisions(2) == ["iteration 2/2", "all traffic on the canary before promotion"]
    assert run.status.iterations == 3
    assert env.calls[-2:] == ["confirm-promotion hooks (Progressing)", "routes 0/100"]
    assert run.tick().decision == "promoting: primary takes the canary spec"
    assert env.routes == (0, 100)


def test_kubernetes_provider_runs_ten_iterations_and_never_routes() -> None:
    env = Rollout()
    run = Run(canary("{stepWeight: 10}", "  provider: kubernetes\n"), env)
    decisions = run.decisions(13)
    assert decisions[1:11] == [f"iteration {n}/10" for n in range(1, 11)]
    assert decisions[11:] == [
        "all traffic on the canary before promotion",
        "promoting: primary takes the canary spec",
    ]
    assert run.decisions(2) == ["finalising: all traffic on the primary", "succeeded: promotion finished"]
    assert env.routes == (100, 0)
    assert not [call for call in env.calls if call.startswith("routes")]  # no router to set


@pytest.mark.parametrize("iterations", [1, 3])
def test_kubernetes_provider_keeps_the_iterations_it_is_given(iterations: int) -> None:
    run = Run(canary(f"{{iterations: {iterations}}}", "  provider: kubernetes\n"), Rollout())
    assert run.decisions(iterations + 1)[-1] == f"iteration {iterations}/{iterations}"


def test_ab_testing_on_the_kubernetes_provider_is_blue_green() -> None:
    env = Rollout()
    run = Run(canary("{iterations: 1, match: [{headers: {x: {exact: y}}}]}", "  provider: kubernetes\n"), env)
    assert run.decisions(4)[1:] == [
        "iteration 1/1",
        "all traffic on the canary before promotion",
        "promoting: primary takes the canary spec",
    ]
    assert env.routes == (100, 0)


def test_ab_testing_sends_matching_requests_to_the_canary_then_promotes() -> None:
    env = Rollout()
    run = Run(canary("{iterations: 2, match: [{headers: {x-canary: {exact: insider}}}]}"), env)
    assert run.decisions(4)[1:] == [
        "iteration 1/2",
        "iteration 2/2",
        "promoting: primary takes the canary spec",
    ]
    assert env.routes == (0, 100)


@pytest.mark.parametrize(
    ("readiness", "decision", "routes", "said"),
    [
        (Readiness(False, True, "canary not ready yet"), "canary not ready yet", (80, 20), []),
        (
            Readiness(False, False, "deadline passed"),
            "rolled back: Progress deadline exceeded deadline passed",
            (100, 0),
            ["! Canary failed! Scaling down web: Progress deadline exceeded deadline passed"],
        ),
    ],
)
def test_canary_that_is_not_ready(
    readiness: Readiness, decision: str, routes: tuple[int, int], said: list[str]
) -> None:
    env = Rollout()
    run = Run(canary(), env)
    run.decisions(2)
    env.said()
    env.canary = readiness
    assert run.tick().decision == decision
    assert env.routes == routes
    assert env.said() == said


def test_primary_lost_during_analysis_rolls_back() -> None:
    env = Rollout()
    run = Run(canary(), env)
    run.decisions(2)
    env.primary = Readiness(False, False, "primary gone")
    assert run.tick().decision == "rolled back: primary gone"
    env.primary = Readiness(False, True, "primary rolling")
    assert Run(
        canary(), Rollout(primary=Readiness(False, True, "primary rolling")), run.status
    ).tick().decision == ("no new revision (Failed)")


def test_promotion_fails_when_the_primary_is_not_ready_and_traffic_stays_on_the_canary() -> None:
    env = Rollout()
    run = Run(canary(), env)
    run.decisions(4)  # scaled up, 20, 40, promoting
    env.said()
    env.primary = Readiness(False, False, "image pull failed")
    failed = run.tick()
    assert (failed.decision, failed.finished) == (
        "promotion failed: image pull failed; traffic kept on the canary",
        True,
    )
    assert env.routes == (0, 100)
    assert (run.status.phase, run.status.canary_weight) == ("Failed", 100)
    assert env.said() == ["! Promotion failed, primary not ready: image pull failed"]
    assert env.calls[-1] == "post-rollout hooks (Failed)"
    env.primary = Readiness(False, True, "waiting for primary")
    assert (
        Run(canary(), env, CanaryStatus().synced("Promoting", "rev-1")).tick().decision
        == "waiting for primary"
    )
    env.primary = Readiness(False, False, "crash loop")
    finalising = Run(canary(), env, CanaryStatus().synced("Finalising", "rev-1")).tick()
    assert finalising.decision == "promotion failed: crash loop; traffic kept on the canary"


@pytest.mark.parametrize("phase", ["Progressing", "WaitingPromotion"])
def test_rollback_webhook_rolls_back_at_once(phase: str) -> None:
    env = Rollout()
    run = Run(canary(), env, CanaryStatus().synced(phase, "rev-1", weight=20))
    env.routes = (80, 20)
    env.rollback = "manual"
    assert run.tick().decision == "rolled back: rollback webhook manual asked for it"
    assert env.said() == [
        f"! Rolling back {REF} manual webhook invoked",
        "! Canary failed! Scaling down web: rollback webhook manual asked for it",
    ]


@pytest.mark.parametrize("phase", ["Progressing", "WaitingPromotion"])
def test_new_revision_mid_run_restarts_the_analysis(phase: str) -> None:
    env = Rollout(routes=(80, 20))
    run = Run(canary(), env, CanaryStatus().synced(phase, "rev-1", weight=20))
    env.spec = "rev-2"
    assert run.tick().decision == "new revision mid-run: analysis restarted"
    assert env.routes == (100, 0)
    assert (run.status.phase, run.status.last_applied_spec, run.status.canary_weight) == (
        "Progressing",
        "rev-2",
        0,
    )
    assert env.said() == [f"New revision detected! Restarting analysis for {REF}"]


def test_skip_analysis_promotes_at_once() -> None:
    env = Rollout(routes=(80, 20))
    run = Run(canary(extra="  skipAnalysis: true\n"), env)
    run.tick()
    skipped = run.tick()
    assert (skipped.decision, skipped.finished) == ("skipped analysis: promoted", True)
    assert env.calls[-4:] == ["routes 100/0", "promote", "scale down", "post-rollout hooks (Succeeded)"]
    assert run.status.phase == "Succeeded"
    assert env.said()[-1] == f"Canary analysis was skipped, promotion finished for {REF}"


def test_suspended_canary_does_nothing() -> None:
    env = Rollout()
    result = Run(canary(extra="  suspend: true\n"), env).tick()
    assert (result.decision, result.finished) == ("suspended", False)
    assert env.calls == []
    assert env.said() == ["skipping: the Canary is suspended (spec.suspend: true)"]


def test_initialisation_waits_for_the_primary_and_fails_on_its_deadline() -> None:
    env = Rollout(primary=Readiness(False, True, "primary starting"))
    run = Run(canary(), env, CanaryStatus())
    assert run.tick().decision == "initialising: primary starting"
    env.primary = Readiness(True)
    env.calls.clear()
    done = run.tick()
    assert env.calls == ["bootstrap", "scale down", "reconcile routes"]
    assert (done.decision, done.finished, run.status.phase) == (
        "initialized: primary serves all traffic",
        True,
        "Initialized",
    )
    assert env.said() == [f"Initialization done! {REF}"]
    assert run.status.last_promoted_spec == "rev-1"
    assert run.tick().decision == "no new revision (Initialized)"
    env.primary = Readiness(False, False, "no pods")
    with pytest.raises(CanaryError) as info:
        Run(canary(), env, CanaryStatus()).tick()
    assert info.value.field == "spec.targetRef"
    assert "the primary never became ready: no pods; fix the target Deployment" in str(info.value)


def test_initializing_phase_initialises_again() -> None:
    run = Run(canary(), Rollout(), CanaryStatus().synced("Initializing", ""))
    assert run.tick().decision == "initialized: primary serves all traffic"


def test_status_without_an_applied_revision_starts_a_run() -> None:
    run = Run(canary(), Rollout(), CanaryStatus(phase="Succeeded"))
    assert run.tick().decision == "new revision: canary scaled up, analysis starts next tick"


def test_canary_without_analysis_rolls_back_on_its_deadline_without_threshold_event() -> None:
    env = Rollout()
    (obj,) = load_manifests(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: apps}\n"
        "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n"
    )
    assert isinstance(obj, Canary)
    run = Run(obj, env)
    run.tick()
    env.said()
    env.canary = Readiness(False, False, "deadline")
    assert run.tick().decision == "rolled back: Progress deadline exceeded deadline"
    assert env.said() == ["! Canary failed! Scaling down web: Progress deadline exceeded deadline"]


def test_promoted_revision_is_not_analysed_again() -> None:
    promoted = CanaryStatus().synced("Initialized", "rev-1").synced("Failed", "rev-2")
    assert Run(canary(), Rollout(spec="rev-1"), promoted).tick().decision == "no new revision (Failed)"
    assert Run(canary(), Rollout(spec="rev-2"), promoted).tick().decision == "no new revision (Failed)"
    assert Run(canary(), Rollout(spec="rev-3"), promoted).tick().decision.startswith("new revision")


@pytest.mark.parametrize(
    ("analysis", "field", "message"),
    [
        (
            "{threshold: 1}",
            "spec.analysis",
            "the analysis has neither stepWeight, stepWeights nor iterations",
        ),
        (
            "{stepWeights: [10, 10, 50]}",
            "spec.analysis.stepWeights",
            "stepWeights [10, 10, 50] must be strictly increasing",
        ),
        (
            "{stepWeights: [50, 20]}",
            "spec.analysis.stepWeights",
            "stepWeights [50, 20] must be strictly increasing",
        ),
    ],
)
def test_weight_settings_that_never_move_are_refused(analysis: str, field: str, message: str) -> None:
    with pytest.raises(CanaryError) as info:
        validate(canary(analysis))
    assert (info.value.obj, info.value.field) == (REF, field)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "analysis", ["{stepWeight: 5}", "{stepWeights: [5, 50]}", "{iterations: 3}", "{stepWeight: 200}"]
)
def test_weight_settings_that_move_are_accepted(analysis: str) -> None:
    validate(canary(analysis))
    validate(canary("{threshold: 1}", "  provider: kubernetes\n"))
