"""Canary test helpers: a webhook server, a target Deployment, a Canary manifest, a deployed target
(the session-wide fixtures are in :mod:`tests.canary.fixtures`)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.canary import (
    CanaryStatus,
    ClusterEnvironment,
    TickResult,
    load_status,
    save_status,
    tick,
)
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.specs import parse_object
from airflow_flux_provider.specs.flagger import Canary
from flux_devkit.services.httpserver import LocalHTTPServer, LoggingHandler
from flux_devkit.services.prometheus import PrometheusServer


class _HookHandler(LoggingHandler):
    server: WebhookServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        hook = self.path.strip("/")
        with self.server.lock:
            self.server.calls.append((hook, body))
            status, delay = self.server.answers.get(hook, (200, 0.0))
            queued = self.server.queued.get(hook)
            if queued:
                status = queued.pop(0)
        if delay:
            time.sleep(delay)
        self.send_body(status, b"gate closed\n" if status > 202 else b"ok\n")


class WebhookServer(LocalHTTPServer):
    """Answers POST /<hook> with the status the test set (200 by default) and records each payload."""

    def __init__(self, log_path: Path) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, tuple[int, float]] = {}
        self.queued: dict[str, list[int]] = {}
        super().__init__(_HookHandler, log_path)

    def answer(self, hook: str, status: int, delay: float = 0.0) -> None:
        with self.lock:
            self.answers[hook] = (status, delay)

    def answer_next(self, hook: str, *statuses: int) -> None:
        """The next calls of ``hook`` get these statuses, then the usual answer again."""
        with self.lock:
            self.queued[hook] = list(statuses)

    def payloads(self, hook: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for name, body in self.calls if name == hook]


def deployment(namespace: str, name: str, image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def canary_manifest(
    namespace: str,
    name: str,
    *,
    prometheus: str,
    hooks: str,
    spec: dict[str, Any] | None = None,
    **analysis: Any,
) -> dict[str, Any]:
    """The seed's Canary shape with test-sized numbers; ``spec``/``analysis`` keys override (None drops)."""
    spec_analysis: dict[str, Any] = {
        "interval": "10s",
        "threshold": 2,
        "maxWeight": 20,
        "stepWeight": 10,
        "metrics": [
            {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "5s"},
            {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "5s"},
        ],
        "webhooks": [
            {"name": "load-test", "url": f"{hooks}/load-test", "timeout": "5s", "metadata": {"type": "cmd"}},
            {"name": "pre", "type": "pre-rollout", "url": f"{hooks}/pre"},
            {"name": "promote-gate", "type": "confirm-promotion", "url": f"{hooks}/promote-gate"},
            {"name": "notify", "type": "post-rollout", "url": f"{hooks}/notify"},
        ],
    }
    spec_analysis.update(analysis)
    manifest = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "provider": "istio",
            "metricsServer": prometheus,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "progressDeadlineSeconds": 60,
            "service": {"port": 8080},
            "analysis": spec_analysis,
            **(spec or {}),
        },
    }
    for section in (manifest["spec"], spec_analysis):
        for key in [k for k, v in section.items() if v is None]:
            del section[key]
    return manifest


@dataclass
class CanaryRun:
    """Drives ticks the way the operator does: read status, tick, write status."""

    cluster: Cluster
    canary: Canary
    decisions: list[str] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.canary.metadata.namespace or "default"

    def status(self) -> CanaryStatus:
        return load_status(self.cluster, self.namespace, self.canary.metadata.name)

    def step(self) -> TickResult:
        env = ClusterEnvironment(self.cluster, self.canary)
        result = tick(self.canary, self.status(), env)
        save_status(self.cluster, self.namespace, self.canary.metadata.name, result.status)
        self.decisions.append(result.decision)
        self.weights.append(env.router(result.status).get_routes()[1])
        return result

    def until(self, done: Any, max_ticks: int = 40) -> TickResult:
        """Tick (0.2 s apart, for the simulator to roll pods) until ``done(result)``."""
        for _ in range(max_ticks):
            result = self.step()
            if done(result):
                return result
            time.sleep(0.2)
        raise AssertionError(f"not done after {max_ticks} ticks: {self.decisions}")

    def get(self, kind: str, name: str, api_version: str = "apps/v1") -> dict[str, Any]:
        obj = self.cluster.get(ObjectKey(api_version, kind, self.namespace, name))
        assert obj is not None, f"{kind}/{self.namespace}/{name} missing"
        return obj

    def set_image(self, image: str) -> None:
        name = self.canary.spec.target_ref.name
        target = deployment(self.namespace, name, image)
        target["spec"].pop("replicas")  # the canary controller owns replicas once bootstrapped
        self.cluster.apply(target, force=True)


def finished(result: TickResult) -> bool:
    return result.finished


@pytest.fixture
def deploy_canary(
    canary_cluster: Cluster, sandbox_namespace: str, prometheus: PrometheusServer, webhooks: WebhookServer
) -> Any:
    """Deploy target ``podinfo`` (image :1.0) and its Canary, run to Initialized; returns a CanaryRun."""

    def deploy(name: str = "podinfo", spec: dict[str, Any] | None = None, **analysis: Any) -> CanaryRun:
        canary_cluster.apply(deployment(sandbox_namespace, name, "podinfo:1.0"), force=True)
        hooks = f"{webhooks.url}/{sandbox_namespace}"
        manifest = canary_manifest(
            sandbox_namespace, name, prometheus=prometheus.url, hooks=hooks, spec=spec, **analysis
        )
        canary_cluster.apply(manifest, force=True)
        run = CanaryRun(canary_cluster, parse_object(manifest))
        run.until(lambda r: r.status.phase == "Initialized")
        return run

    return deploy
