"""MLflow as the audit log of deployments and the registry of trained models."""

from airflow_flux_provider.tracking.deployments import (
    DeploymentRun,
    DeploymentTracker,
    ModelRef,
    TrackingError,
)
from airflow_flux_provider.tracking.models import ChampionDecision, promote_if_better

__all__ = [
    "ChampionDecision",
    "DeploymentRun",
    "DeploymentTracker",
    "ModelRef",
    "TrackingError",
    "promote_if_better",
]
