"""Champion promotion in the MLflow model registry: the gate between training and deployment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from airflow_flux_provider.hooks import MLFLOW_CONN_ID
from airflow_flux_provider.hooks.mlflow import MlflowTrackingHook
from airflow_flux_provider.tracking import promote_if_better


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
        mlflow_conn_id: str = MLFLOW_CONN_ID,
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

    def execute(self, context: Context) -> dict[str, Any]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(
            tracking_uri=MlflowTrackingHook(self.mlflow_conn_id).required_tracking_uri("promotion")
        )
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
