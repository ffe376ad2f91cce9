"""``python -m flux_devkit.demo``: the ML training + deployment demo, end to end.

1. start the embedded defaults (sandbox cluster running the local registry's images as
   processes, Git server with the GitOps repository, registry with the training, serving and
   load-test images, MLflow, Prometheus scraping the sandbox mesh, and a local webhook
   endpoint standing in for Slack);
2. ``ml_training`` with deliberately weak hyper-parameters: the training Job trains in the
   cluster, its run becomes model version 1, the first champion;
3. ``ml_deployment``: image automation commits the newest 1.x.x training tag to Git, the
   cluster is reconciled, the Canary initialises ``ml-serving-primary`` serving version 1;
4. ``ml_training`` again with better hyper-parameters: version 2 beats version 1;
5. ``ml_deployment`` again: the new model version is a new serving spec, so the Canary
   analysis runs step by step on the load tester's real traffic and promotes it;
6. a faulty serving release (image 1.1.0 fails a share of its predictions) is committed to
   Git; ``ml_deployment`` rolls it back on the measured success rate, records and notifies it;
7. print what ran where: the Job's logs and MLflow run, the canary steps, where to look.
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
from flux_devkit.services.process import ServiceError


class _Webhooks(BaseHTTPRequestHandler):
    """Answers every POST with 200 and keeps the bodies (the Slack stand-in of the post-rollout hook)."""

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


#: The training DAG's trigger forms, in the story's order.
TRAININGS = (
    {"EXPERIMENT_ID": "baseline", "LEARNING_RATE": 0.0005, "BATCH_SIZE": 256, "EPOCHS": 2},
    {"EXPERIMENT_ID": "tuned", "LEARNING_RATE": 0.01, "BATCH_SIZE": 32, "EPOCHS": 20},
)
TRAINING_NAMESPACE = "ml-pipelines"


def _summary(env: DemoEnvironment, webhooks: list[tuple[str, Any]]) -> None:
    from mlflow.tracking import MlflowClient

    from airflow_flux_provider.kube import Cluster

    cluster = Cluster.from_kubeconfig(str(env.sandbox.kubeconfig))
    print("\n==> What runs where (sandbox cluster)")
    for namespace in ("ml-system", "ml-training-prod", "ml-serving", "mlflow"):
        for deployment in cluster.list("apps/v1", "Deployment", namespace=namespace):
            spec = deployment["spec"]["template"]["spec"]["containers"][0]
            env_vars = {e["name"]: e.get("value") for e in spec.get("env") or []}
            model = f" model={env_vars['MODEL_URI']}" if "MODEL_URI" in env_vars else ""
            ready = deployment.get("status", {}).get("readyReplicas", 0)
            print(f"    {namespace}/{deployment['metadata']['name']}: {spec['image']} ready={ready}{model}")
    client = MlflowClient(env.tracking_uri)
    training = _experiment_id(client, "training/digits")
    print(f"\n==> Training Jobs and the MLflow runs they logged ({env.tracking_uri})")
    for form in TRAININGS:
        job = f"train-{form['EXPERIMENT_ID']}"
        logs = env.sandbox.kubectl("logs", f"job/{job}", "-n", TRAINING_NAMESPACE, check=False)
        if logs.returncode == 0:
            ours = [
                line
                for line in logs.stdout.splitlines()
                if line.startswith(("training ", "epoch ", "done: "))
            ]
            print(f"    Job {TRAINING_NAMESPACE}/{job}, from its Pod's log:")
            print("".join(f"      | {line}\n" for line in [*ours[:1], "...", *ours[-3:]]), end="")
        else:  # prune: true, as in Flux: the next training's Job replaced it in the inventory
            print(f"    Job {TRAINING_NAMESPACE}/{job}: pruned when the next training's Job was applied")
        for run in client.search_runs(
            [training],
            filter_string=f"tags.`kubernetes.job.name` = '{job}'",
        ):
            params = {name: run.data.params.get(name) for name in form}
            same = all(str(value) == params[name] for name, value in form.items())
            print(f"      run {run.info.run_id} on pod {run.data.tags.get('kubernetes.pod.name')}: "
                  f"params {params} {'= the trigger form' if same else '!= the trigger form ' + str(form)}, "
                  f"accuracy {run.data.metrics.get('accuracy', 0):.4f}")  # fmt: skip
    champion = client.get_model_version_by_alias("digits", "champion")
    print(f"    model digits: champion is version {champion.version}")
    print("\n==> Canary analyses (measured on the load tester's traffic through the mesh, via Prometheus)")
    canaries = client.search_runs(
        [_experiment_id(client, "deployments/sandbox/ml-serving")],
        "tags.`flux.kind` = 'Canary'",
        order_by=["attributes.start_time ASC"],
    )
    for run in canaries:
        # MLflow step = tick; a tick stops at its first failing metric (a rejected success rate has no p99)
        history = {
            name: {m.step: m.value for m in client.get_metric_history(run.info.run_id, name)}
            for name in ("canary_weight", "request-success-rate", "request-duration")
        }
        rates = history["request-success-rate"]
        if not rates:
            continue  # the initialisation: no analysis ran
        print(
            f"    {run.data.tags.get('flagger.phase')}: {len(rates)} measured ticks (weight, success, p99):"
        )
        for tick in sorted(rates):
            p99 = history["request-duration"].get(tick)
            shown = f"{p99:>7.1f} ms" if p99 is not None else "      - (not measured)"
            print(f"      {history['canary_weight'].get(tick, 0):>3.0f}%  {rates[tick]:>7.2f}%  {shown}")
    slack = [
        payload.get("phase") for path, payload in webhooks if path == "/slack" and isinstance(payload, dict)
    ]
    print(f"\n==> Notified (post-rollout webhook): {', '.join(map(str, slack)) or 'nothing'}")
    print(f"\n    GitOps repository: {env.gitops_url}")
    print(f"    kubeconfig:        {env.sandbox.kubeconfig}  (kubectl --kubeconfig ... get all -A)")
    print(f"    Airflow home:      {env.airflow_home}")
    print(f"    logs:              {env.workdir / 'logs'}")


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        raise ServiceError(f"MLflow has no experiment {name!r}: the story did not record it", obj="demo")
    return str(found.experiment_id)


def _addresses(env: DemoEnvironment) -> None:
    if env.scheduler is not None:
        api = env.scheduler.api
        print(f"    Airflow UI: {api.url}  ({login(env.scheduler)}; also in {api.passwords_file})")
    print(f"    MLflow UI:  {env.tracking_uri}", flush=True)


def serve_webhooks() -> tuple[ThreadingHTTPServer, str]:
    """The Slack stand-in; returns the server and its base URL."""
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), _Webhooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    return hooks, f"http://127.0.0.1:{hooks.server_address[1]}"


def faulty_release(env: DemoEnvironment) -> None:
    """A developer commits serving image 1.1.0, a build whose predictions partly fail."""
    from flux_devkit.demo.environment import FAULTY_SERVING_TAG, GITOPS_REPO, gitops_files

    path = "apps/ml-serving/base/deployment.yaml"
    text = gitops_files(env.registry_host)[path].replace(
        "ml-serving:1.0.0", f"ml-serving:{FAULTY_SERVING_TAG}"
    )
    env.stack["git"].commit(GITOPS_REPO, {path: text}, message=f"ml-serving {FAULTY_SERVING_TAG}")


def run_story(env: DemoEnvironment, hook_url: str, canary_interval: str) -> None:
    """Steps 2-6 of the module docstring; raises on the first DAG run that ends otherwise than expected."""
    deploy_conf = {
        "CANARY_INTERVAL": canary_interval,
        # a metric window as long as the interval: a 1m window after a 10s interval would still
        # hold the previous release's traffic at the first check of the next one
        "CANARY_METRICS_INTERVAL": canary_interval,
        "PROMETHEUS_URL": env.stack["prometheus"].url,
        "NOTIFY_URL": f"{hook_url}/slack",
    }
    baseline, tuned = TRAININGS
    steps: list[tuple[str, str, dict[str, Any], str]] = [
        ("ml_training: weak hyper-parameters (becomes the first champion)", "ml_training", baseline,
         "success"),
        ("ml_deployment: image automation, reconcile, canary initialisation", "ml_deployment", deploy_conf,
         "success"),
        ("ml_training: better hyper-parameters (a new champion)", "ml_training", tuned, "success"),
        ("ml_deployment: the new model version goes through canary analysis", "ml_deployment", deploy_conf,
         "success"),
        ("ml_deployment: a faulty serving release is rolled back by the analysis", "ml_deployment",
         deploy_conf, "failed"),
    ]  # fmt: skip
    for title, dag_id, conf, expected in steps:
        started = _step(title)
        if expected == "failed":
            faulty_release(env)
        run_id = env.run_dag(dag_id, conf, expect=expected)
        if env.scheduler is not None and expected == "success":  # a rolled-back canary has no result
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
    parser.add_argument(
        "--celery-workers",
        type=int,
        default=0,
        help="run the tasks on this many Celery workers (Redis, s3:// artifacts) instead of LocalExecutor",
    )
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    begin = _step(f"Starting the embedded defaults in {args.workdir}")
    env = start(args.workdir, celery_workers=args.celery_workers)
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
