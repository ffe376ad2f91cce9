"""Champion/challenger promotion in the MLflow model registry.

A newly registered model version gets the ``champion`` alias only when its metric beats
the current champion's (or there is none), so a scheduled retrain that produces a worse
model never replaces the one being served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_flux_provider.tracking.deployments import TrackingError


@dataclass(frozen=True)
class ChampionDecision:
    model: str
    candidate_version: str
    candidate_score: float
    champion_version: str | None
    champion_score: float | None
    promoted: bool

    @property
    def reason(self) -> str:
        if self.champion_version is None:
            return f"version {self.candidate_version} is the first champion of {self.model}"
        if self.champion_version == self.candidate_version:
            return f"version {self.candidate_version} already is the champion of {self.model}"
        verdict = "beats" if self.promoted else "does not beat"
        return (
            f"version {self.candidate_version} ({self.candidate_score:.4f}) {verdict} champion "
            f"version {self.champion_version} ({self.champion_score:.4f})"
        )


def _version_score(client: Any, model: str, version: str, metric: str) -> float:
    model_version = client.get_model_version(model, version)
    run = client.get_run(model_version.run_id)
    if metric not in run.data.metrics:
        raise TrackingError(
            f"run {model_version.run_id} of model version {model}/{version} has no metric '{metric}'; "
            "log it in the training run or choose another promotion metric",
            obj=f"RegisteredModel/{model}",
            field="metric",
        )
    return float(run.data.metrics[metric])


def promote_if_better(
    client: Any,
    model: str,
    version: str,
    *,
    metric: str,
    greater_is_better: bool = True,
    alias: str = "champion",
) -> ChampionDecision:
    """Move ``alias`` to ``version`` when it scores better than the version holding it."""
    candidate = _version_score(client, model, version, metric)
    try:
        current = client.get_model_version_by_alias(model, alias)
    except Exception:  # MLflow raises RESOURCE_DOES_NOT_EXIST when no version holds the alias
        current = None
    if current is None:
        client.set_registered_model_alias(model, alias, version)
        return ChampionDecision(model, str(version), candidate, None, None, True)
    if str(current.version) == str(version):
        return ChampionDecision(model, str(version), candidate, str(version), candidate, True)
    champion = _version_score(client, model, str(current.version), metric)
    better = candidate > champion if greater_is_better else candidate < champion
    if better:
        client.set_registered_model_alias(model, alias, version)
    return ChampionDecision(model, str(version), candidate, str(current.version), champion, better)
