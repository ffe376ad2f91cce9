"""Training in the Airflow worker, for clusters that cannot run the training Job's container.

On a real cluster the training runs as the Kubernetes Job that the reconcile task applied;
this operator is the dev kit's stand-in and takes the same hyper-parameters from the
rendered postBuild substitutions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_flux_provider.hooks import MLFLOW_CONN_ID
from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook
from airflow_flux_provider.links.mlflow import MLFLOW_RUN_URL_KEY, MlflowRunLink
from airflow_flux_provider.operators.tracking import airflow_tags
from flux_devkit.ml.training import TrainingParams, train_and_register


class TrainModelOperator(BaseOperator):
    """Train, log every epoch's metrics and register a new model version.

    XCom: ``{model, version, accuracy, run_id}``, each also an XCom of its own
    (``train.output["version"]``).
    """

    template_fields: Sequence[str] = ("variables", "model_name")
    operator_extra_links = (MlflowRunLink(),)

    def __init__(
        self,
        *,
        variables: dict[str, Any],
        model_name: str,
        mlflow_conn_id: str = MLFLOW_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.variables = variables
        self.model_name = model_name
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        params = TrainingParams.from_substitutions(self.variables)
        trained = train_and_register(
            params,
            tracking_uri=MlflowTrackingHook(self.mlflow_conn_id).required_tracking_uri("training"),
            model_name=self.model_name,
            tags=airflow_tags(context),
        )
        context["ti"].xcom_push(key=MLFLOW_RUN_URL_KEY, value=trained.run_url)
        return {
            "model": trained.model_name,
            "version": trained.version,
            "accuracy": trained.accuracy,
            "run_id": trained.run_id,
        }
