"""``python -m flux_devkit.demo``: the ML training + deployment demo, end to end.

1. start the embedded defaults (sandbox cluster, Git server with the GitOps repository,
   registry with the training image tags, MLflow, Prometheus with serving traffic, and a
   local webhook endpoint standing in for the load tester and Slack);
2. ``ml_training`` with deliberately weak hyper-parameters: model version 1, the first
   champion;
3. ``ml_deployment``: image automation commits the newest 1.x.x tag to Git, the cluster is
   reconciled, the Canary initialises ``ml-serving-primary``;
4. ``ml_training`` again with better hyper-parameters: version 2 beats version 1;
5. ``ml_deployment`` again: the new model version is a new serving spec, so the Canary
   analysis runs step by step against Prometheus and promotes it;
6. print what was deployed where, and where to look.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flux_devkit.demo.airflow import go_live, login, run_outcome
from flux_devkit.demo.environment import DemoEnvironment, start


class _Webhooks(BaseHTTPRequestHandler):
    """Answers every POST with 200 and keeps the bodies (load tester, Slack, rollout gates)."""

    received: list[tuple[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload: Any = json.loads(body or b"{}")
        except ValueError:
            payload = body.decode(errors="replace")
        self.received.append((self.path, payload))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # keep the demo's output readable
        return


def _step(title: str) -> float:
    print(f"\n==> {title}", flush=True)
    return time.monotonic()


def _done(started: float) -> None:
    print(f"    done in {time.monotonic() - started:.1f}s", flush=True)


def _summary(env: DemoEnvironment, webhooks: list[tuple[str, Any]]) -> None:
    from mlflow.tracking import MlflowClient

    from airflow_flux_provider.kube import Cluster

    cluster = Cluster.from_kubeconfig(str(env.sandbox.kubeconfig))
    print("\n==> What runs where (sandbox cluster)")
    for namespace in ("ml-system", "ml-training-prod", "ml-serving", "mlflow"):
        for deployment in cluster.list("apps/v1", "Deployment", namespace=namespace):
            spec = deployment["spec"]["template"]["spec"]["containers"][0]
            env_vars = {e["name"]: e.get("value") for e in spec.get("env") or []}
            model = (
                f" model={env_vars['MODEL_URI']} {env_vars.get('MODEL_VERSION')}"
                if "MODEL_URI" in env_vars
                else ""
            )
            ready = deployment.get("status", {}).get("readyReplicas", 0)
            print(f"    {namespace}/{deployment['metadata']['name']}: {spec['image']} ready={ready}{model}")
    client = MlflowClient(env.tracking_uri)
    champion = client.get_model_version_by_alias("digits", "champion")
    print(f"\n==> MLflow ({env.tracking_uri})")
    print(f"    model digits: champion is version {champion.version} (tags {champion.tags})")
    for experiment in client.search_experiments():
        runs = client.search_runs([experiment.experiment_id])
        if runs:
            print(f"    experiment {experiment.name}: {len(runs)} run(s)")
    print(f"\n==> Webhooks received: {len(webhooks)} ({', '.join(sorted({p for p, _ in webhooks}))})")
    print(f"\n    GitOps repository: {env.gitops_url}")
    print(f"    kubeconfig:        {env.sandbox.kubeconfig}  (kubectl --kubeconfig ... get all -A)")
    print(f"    Airflow home:      {env.airflow_home}")
    print(f"    logs:              {env.workdir / 'logs'}")


def _addresses(env: DemoEnvironment) -> None:
    if env.scheduler is not None:
        api = env.scheduler.api
        print(f"    Airflow UI: {api.url}  ({login(env.scheduler)}; also in {api.passwords_file})")
    print(f"    MLflow UI:  {env.tracking_uri}", flush=True)


def serve_webhooks() -> tuple[ThreadingHTTPServer, str]:
    """The load tester / Slack stand-in; returns the server and its base URL."""
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), _Webhooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    return hooks, f"http://127.0.0.1:{hooks.server_address[1]}"


def run_story(env: DemoEnvironment, hook_url: str, canary_interval: str) -> None:
    """Steps 2-5 of the module docstring; raises on the first DAG run that fails."""
    prometheus = env.stack["prometheus"]
    for workload in ("ml-serving-primary", "ml-serving"):  # Flagger queries the target name for the canary
        prometheus.exporter.set_traffic(workload, {200: 20}, namespace="ml-serving", latency_ms=35)
    deploy_conf = {
        "CANARY_INTERVAL": canary_interval,
        "PROMETHEUS_URL": prometheus.url,
        "LOADTESTER_URL": f"{hook_url}/loadtester",
        "NOTIFY_URL": f"{hook_url}/slack",
    }
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("ml_training: weak hyper-parameters (becomes the first champion)", "ml_training",
         {"EXPERIMENT_ID": "baseline", "LEARNING_RATE": 0.0005, "BATCH_SIZE": 256, "EPOCHS": 2}),
        ("ml_deployment: image automation, reconcile, canary initialisation", "ml_deployment", deploy_conf),
        ("ml_training: better hyper-parameters (a new champion)", "ml_training",
         {"EXPERIMENT_ID": "tuned", "LEARNING_RATE": 0.01, "BATCH_SIZE": 32, "EPOCHS": 20}),
        ("ml_deployment: the new model version goes through canary analysis", "ml_deployment", deploy_conf),
    ]  # fmt: skip
    for title, dag_id, conf in steps:
        started = _step(title)
        run_id = env.run_dag(dag_id, conf)
        if env.scheduler is not None:
            print(f"    {run_outcome(env.scheduler, dag_id, run_id)}")
        _done(started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flux_devkit.demo")
    parser.add_argument(
        "--workdir", type=Path, default=Path(".state/demo").resolve(), help="default: ./.state/demo"
    )
    parser.add_argument("--canary-interval", default="10s", help="Flagger analysis interval for the demo")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the services (and the UIs) up until Ctrl+C"
    )
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    begin = _step(f"Starting the embedded defaults in {args.workdir}")
    env = start(args.workdir)
    hooks, hook_url = serve_webhooks()
    _done(begin)
    _addresses(env)
    try:
        run_story(env, hook_url, args.canary_interval)
        _summary(env, _Webhooks.received)
        print(f"\nDemo finished in {time.monotonic() - begin:.0f}s.")
        if args.keep_running and env.scheduler is not None:
            go_live(env.scheduler)
            _addresses(env)
            print(
                "    Services keep running, the scheduler now creates runs (schedules, and a new champion "
                "starts ml_deployment); press Ctrl+C to stop them.",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        print("Services stopped. Re-run: scripts/demo.sh (--keep-running to browse the UIs afterwards)")
    except Exception as err:
        print(f"\n✗ demo failed: {err}", file=sys.stderr)
        return 1
    finally:
        hooks.shutdown()
        env.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
