"""Operators for the ML side of the pipelines: train locally, then promote the champion.

On a real cluster the training runs as a Kubernetes Job applied by the reconcile
operator; the embedded demo has no kubelet, so it trains in the worker instead, with the
same hyper-parameters taken from the rendered postBuild substitutions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_flux_provider.links.mlflow import MLFLOW_RUN_URL_KEY, MlflowRunLink
from airflow_flux_provider.ml.training import TrainingParams, train_and_register
from airflow_flux_provider.operators.tracking import airflow_tags
from airflow_flux_provider.tracking import TrackingError, promote_if_better


def _tracking_uri(mlflow_conn_id: str) -> str:
    from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook

    uri = MlflowTrackingHook(mlflow_conn_id).tracking_uri()
    if not uri:
        raise TrackingError(
            f"no MLflow connection '{mlflow_conn_id}' and no MLFLOW_TRACKING_URI; "
            "training needs a tracking server",
            field="mlflow_conn_id",
        )
    return uri


class TrainModelOperator(BaseOperator):
    """Train, log every epoch's metrics and register a new model version; XCom: the version."""

    template_fields: Sequence[str] = ("variables", "model_name")
    operator_extra_links = (MlflowRunLink(),)

    def __init__(
        self,
        *,
        variables: dict[str, Any],
        model_name: str,
        mlflow_conn_id: str = "flux_mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.variables = variables
        self.model_name = model_name
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        params = TrainingParams.from_substitutions(self.variables)
        trained = train_and_register(
            params,
            tracking_uri=_tracking_uri(self.mlflow_conn_id),
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


class PromoteChampionOperator(BaseOperator):
    """Give the ``champion`` alias to the trained version only if it beats the current one.

    With ``skip_when_kept`` the task ends skipped when the champion stays, so its outlets
    (e.g. the Asset the deployment DAG is scheduled on) only fire for a new champion.
    """

    template_fields: Sequence[str] = ("model_name", "version")

    def __init__(
        self,
        *,
        model_name: str,
        version: str,
        metric: str = "accuracy",
        greater_is_better: bool = True,
        alias: str = "champion",
        mlflow_conn_id: str = "flux_mlflow_default",
        skip_when_kept: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.version = version
        self.metric = metric
        self.greater_is_better = greater_is_better
        self.alias = alias
        self.mlflow_conn_id = mlflow_conn_id
        self.skip_when_kept = skip_when_kept

    def execute(self, context: Any) -> dict[str, Any]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=_tracking_uri(self.mlflow_conn_id))
        decision = promote_if_better(
            client,
            self.model_name,
            str(self.version),
            metric=self.metric,
            greater_is_better=self.greater_is_better,
            alias=self.alias,
        )
        self.log.info("%s: %s", "promoted" if decision.promoted else "kept champion", decision.reason)
        if self.skip_when_kept and not decision.promoted:
            raise AirflowSkipException(f"champion unchanged: {decision.reason}")
        champion = decision.candidate_version if decision.promoted else decision.champion_version
        return {"promoted": decision.promoted, "champion": champion, "reason": decision.reason}
