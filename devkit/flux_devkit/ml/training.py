"""Train a small classifier on a dataset that ships with scikit-learn and record it in MLflow.

This is what the demo's training DAG runs where a real cluster would run the training
Job: the hyper-parameters are the seed's postBuild variables (LEARNING_RATE, BATCH_SIZE,
EPOCHS), the metrics are measured on a held-out split, one value per epoch.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

from airflow_flux_provider.errors import FluxError

log = logging.getLogger(__name__)


class TrainingError(FluxError):
    """Hyper-parameters out of range or the MLflow server refused the model."""


@dataclass(frozen=True)
class TrainingParams:
    experiment_id: str
    learning_rate: float
    batch_size: int
    epochs: int
    seed: int = 42

    @classmethod
    def from_substitutions(cls, values: dict[str, Any]) -> TrainingParams:
        """Read the seed's variables (strings, as postBuild substitution carries them)."""

        def number(name: str, kind: type, low: float, high: float) -> Any:
            raw = values.get(name)
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise TrainingError(
                    f"{raw!r} is not a valid {kind.__name__}; set {name} in the trigger form or substitute",
                    field=name,
                ) from None
            if not low <= value <= high:
                raise TrainingError(f"{value} is outside [{low}, {high}]", field=name)
            return value

        return cls(
            experiment_id=str(values.get("EXPERIMENT_ID") or "default"),
            learning_rate=number("LEARNING_RATE", float, 1e-6, 10.0),
            batch_size=int(number("BATCH_SIZE", int, 1, 100_000)),
            epochs=int(number("EPOCHS", int, 1, 10_000)),
        )


@dataclass(frozen=True)
class TrainedModel:
    run_id: str
    model_name: str
    version: str
    accuracy: float
    run_url: str


def train_and_register(
    params: TrainingParams, *, tracking_uri: str, model_name: str, tags: dict[str, str]
) -> TrainedModel:
    """Mini-batch SGD on the digits dataset; logs params, per-epoch metrics and the model version."""
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
    experiment = f"training/{model_name}"
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=f"train-{params.experiment_id}", tags=tags)
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        params=[
            Param(k, str(v))
            for k, v in {
                "EXPERIMENT_ID": params.experiment_id,
                "LEARNING_RATE": params.learning_rate,
                "BATCH_SIZE": params.batch_size,
                "EPOCHS": params.epochs,
                "dataset": "sklearn.datasets.load_digits",
                "model": "SGDClassifier(log_loss)",
            }.items()
        ],
    )
    accuracy = 0.0
    history = []
    for epoch in range(params.epochs):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), params.batch_size):
            batch = order[start : start + params.batch_size]
            model.partial_fit(x_train[batch], y_train[batch], classes=classes)
        accuracy = float(accuracy_score(y_test, model.predict(x_test)))
        loss = float(log_loss(y_test, model.predict_proba(x_test), labels=classes))
        now = int(time.time() * 1000)
        history += [Metric("accuracy", accuracy, now, epoch), Metric("log_loss", loss, now, epoch)]
    for start in range(0, len(history), 1000):  # MLflow's log_batch limit
        client.log_batch(run_id, metrics=history[start : start + 1000])

    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        # skops (MLflow's sklearn format) finds each class's module by a getattr on every loaded
        # module; in an Airflow worker that hits Airflow's moved names, each warning once: 1,160
        # DeprecatedImportWarning lines in the task log. Only skops' own lookups are silenced.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"skops\.")
        # The served model takes raw pixels: the fitted scaler travels with the classifier.
        served = Pipeline([("scale", scaler), ("classify", model)])
        info = mlflow.sklearn.log_model(
            served, name="model", registered_model_name=model_name, input_example=raw_example
        )
    version = str(info.registered_model_version)
    log.info("trained %s version %s: accuracy %.4f", model_name, version, accuracy)
    return TrainedModel(
        run_id=run_id,
        model_name=model_name,
        version=version,
        accuracy=accuracy,
        run_url=f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}",
    )
