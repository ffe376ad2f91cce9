#!/usr/bin/env python3
"""The training image's program: train the digits classifier once and record it in MLflow.

Run by the training Job. The hyper-parameters are the Job's environment, which the Flux
postBuild substitution filled from the trigger form: ``EXPERIMENT_ID``, ``LEARNING_RATE``,
``BATCH_SIZE``, ``EPOCHS``. Every epoch's held-out accuracy and log loss go to MLflow as
they are measured, and the run is tagged with the Job and Pod it ran in (downward API:
``JOB_NAME``, ``JOB_UID``, ``POD_NAME``, ``POD_NAMESPACE``) so the pipeline that started the
Job can find it. The fitted model is logged as the run's ``model`` artifact; registering it
is the pipeline's decision, not the Job's.

The Job may pass them as the lecture's flags instead (``--learning-rate=0.01``).
``train.py standby`` is what the long-running ``ml-trainer`` replicas run: a trainer waiting
for work, answering ``/healthz`` on ``$PORT`` (8080).

Needs numpy, scikit-learn and mlflow from the interpreter (the sandbox lends its own).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ARTIFACT = "model"
#: The run tags that say where the training ran, and the downward-API variables they come from.
PLACEMENT_TAGS = {
    "kubernetes.job.name": "JOB_NAME",
    "kubernetes.job.uid": "JOB_UID",
    "kubernetes.pod.name": "POD_NAME",
    "kubernetes.namespace": "POD_NAMESPACE",
}


class ParameterError(ValueError):
    """A hyper-parameter that is missing, not a number or out of range (names the variable)."""


@dataclass(frozen=True)
class Hyperparameters:
    experiment_id: str
    learning_rate: float
    batch_size: int
    epochs: int
    seed: int = 42

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Hyperparameters:
        def number(name: str, kind: type, low: float, high: float) -> Any:
            raw = env.get(name, "")
            try:
                value = kind(raw)
            except ValueError:
                raise ParameterError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
            if not low <= value <= high:
                raise ParameterError(f"{name}={value} is outside [{low:g}, {high:g}]")
            return value

        experiment = env.get("EXPERIMENT_ID", "")
        if not experiment:
            raise ParameterError("EXPERIMENT_ID is empty")
        return cls(
            experiment_id=experiment,
            learning_rate=number("LEARNING_RATE", float, 1e-6, 10.0),
            batch_size=number("BATCH_SIZE", int, 1, 100_000),
            epochs=number("EPOCHS", int, 1, 10_000),
        )

    def as_params(self) -> dict[str, str]:
        """The MLflow params: the variables' names as the trigger form and the Job spell them."""
        return {
            "EXPERIMENT_ID": self.experiment_id,
            "LEARNING_RATE": str(self.learning_rate),
            "BATCH_SIZE": str(self.batch_size),
            "EPOCHS": str(self.epochs),
            "dataset": "sklearn.datasets.load_digits",
            "model": "SGDClassifier(log_loss)",
        }


@dataclass(frozen=True)
class TrainingRun:
    run_id: str
    experiment_id: str
    accuracy: float


def train(
    params: Hyperparameters, *, tracking_uri: str, experiment: str, tags: dict[str, str]
) -> TrainingRun:
    """Mini-batch SGD on the digits dataset; one MLflow metric step per epoch, then the model artifact."""
    import mlflow
    import numpy as np
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.25, random_state=params.seed, stratify=labels
    )
    raw_example = x_test[:2]
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    classes = np.unique(labels)
    model = SGDClassifier(
        loss="log_loss", learning_rate="constant", eta0=params.learning_rate, random_state=params.seed
    )
    rng = np.random.default_rng(params.seed)

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=f"train-{params.experiment_id}", tags=tags)
    run_id = run.info.run_id
    print(f"MLflow run {run_id} in experiment {experiment} ({tracking_uri})", flush=True)
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.as_params().items()])
    accuracy = 0.0
    try:
        for epoch in range(params.epochs):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), params.batch_size):
                batch = order[start : start + params.batch_size]
                model.partial_fit(x_train[batch], y_train[batch], classes=classes)
            accuracy = float(accuracy_score(y_test, model.predict(x_test)))
            loss = float(log_loss(y_test, model.predict_proba(x_test), labels=classes))
            now = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric("accuracy", accuracy, now, epoch), Metric("log_loss", loss, now, epoch)],
            )
            print(
                f"epoch {epoch + 1}/{params.epochs}: accuracy={accuracy:.4f} log_loss={loss:.4f}", flush=True
            )
        mlflow.set_tracking_uri(tracking_uri)
        with mlflow.start_run(run_id=run_id):
            # The served model takes raw pixels: the fitted scaler travels with the classifier.
            served = Pipeline([("scale", scaler), ("classify", model)])
            mlflow.sklearn.log_model(served, name=MODEL_ARTIFACT, input_example=raw_example)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return TrainingRun(run_id, experiment_id, accuracy)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"standing by\n"
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # probes every few seconds
        return


def standby() -> None:
    host = os.environ.get("POD_IP") or "0.0.0.0"
    server = ThreadingHTTPServer((host, int(os.environ.get("PORT", "8080"))), _Health)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"trainer standing by on {host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


def main(argv: list[str]) -> int:
    """``train.py [--experiment=ID] [--learning-rate=X] [--batch-size=N] [--epochs=N]`` or ``standby``.

    The flags win over the variables of the same meaning: a Job passes substituted values as
    arguments because env values must stay strings (postBuild turns ``value: ${EPOCHS}``
    into a number).
    """
    if argv == ["standby"]:
        standby()
        return 0
    env = dict(os.environ)
    flags = {"--experiment": "EXPERIMENT_ID", "--learning-rate": "LEARNING_RATE",
             "--batch-size": "BATCH_SIZE", "--epochs": "EPOCHS"}  # fmt: skip
    for arg in argv:
        flag, sep, value = arg.partition("=")
        if not sep or flag not in flags:
            print(f"error: unknown argument {arg!r}; use {'=, '.join(flags)}= or standby", file=sys.stderr)
            return 2
        env[flags[flag]] = value
    try:
        params = Hyperparameters.from_env(env)
    except ParameterError as err:
        print(f"error: {err}; set it in the training Job (the trigger form fills it)", file=sys.stderr)
        return 2
    tracking_uri = env.get("MLFLOW_TRACKING_URI", "")
    if not tracking_uri:
        print(
            "error: MLFLOW_TRACKING_URI is empty; the Job's env must name the MLflow server", file=sys.stderr
        )
        return 2
    tags = {tag: env[name] for tag, name in PLACEMENT_TAGS.items() if env.get(name)}
    print(f"training {params}", flush=True)
    run = train(
        params,
        tracking_uri=tracking_uri,
        experiment=env.get("MLFLOW_EXPERIMENT_NAME") or "training/digits",
        tags=tags,
    )
    print(f"done: run {run.run_id} accuracy={run.accuracy:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
